package telnet

// Kinds of keyword besides the prompts.
const (
	kindFailure prompt = iota + 10
	kindSuccess
)

// keyword is a lower-case phrase searched for in server output with a
// Knuth-Morris-Pratt matcher: its state is the length of the prefix
// matched so far, so no server text needs to be kept.
type keyword struct {
	text string
	kind prompt
	fail []uint8
}

// keywords are what the server prints around a login. Prompts count only
// when nothing but spaces follows them before the client types.
var keywords = [...]keyword{
	kw("login:", userPrompt),
	kw("username:", userPrompt),
	kw("user name:", userPrompt),
	kw("password:", passPrompt),
	kw("passcode:", passPrompt),
	kw("login incorrect", kindFailure),
	kw("login failed", kindFailure),
	kw("login invalid", kindFailure),
	kw("access denied", kindFailure),
	kw("authentication failed", kindFailure),
	kw("bad password", kindFailure),
	kw("incorrect password", kindFailure),
	kw("invalid password", kindFailure),
	kw("last login", kindSuccess),
}

func kw(text string, kind prompt) keyword {
	fail := make([]uint8, len(text))
	for i, k := 1, 0; i < len(text); i++ {
		for k > 0 && text[i] != text[k] {
			k = int(fail[k-1])
		}
		if text[i] == text[k] {
			k++
		}
		fail[i] = uint8(k)
	}
	return keyword{text: text, kind: kind, fail: fail}
}

// step advances the matcher state st with the lower-case byte c and
// reports whether the keyword was completed.
func (k *keyword) step(st uint8, c byte) (uint8, bool) {
	for st > 0 && k.text[st] != c {
		st = k.fail[st-1]
	}
	if k.text[st] == c {
		st++
	}
	if int(st) == len(k.text) {
		return k.fail[st-1], true
	}
	return st, false
}
