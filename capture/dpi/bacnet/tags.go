package bacnet

import (
	"errors"
	"fmt"
)

// Tag classes (clause 20.2.1.1).
const (
	classApp     = 0
	classContext = 1
)

// maxItems bounds the objects and results read from one message; a
// 1476-byte APDU holds far fewer.
const maxItems = 1500

// tag is one BACnet tag (clause 20.2.1): an application or context tag
// with its contents, or an opening or closing tag of a constructed value.
type tag struct {
	number           uint8
	class            uint8
	opening, closing bool
	data             []byte
	// ok is set by openedValue when the constructed value held exactly
	// this one primitive tag.
	ok bool
}

// reader walks the tags of an APDU's service data.
type reader struct {
	b []byte
	// partialOK makes running out of bytes a normal end: the first
	// segment of a segmented ACK stops anywhere.
	partialOK bool
}

// end maps the error that stopped a read: running out of bytes in a
// segment is no error.
func (r *reader) end(err error) error {
	if r.partialOK && errors.Is(err, ErrShort) {
		return nil
	}
	return err
}

// parse decodes the tag at the start of b and returns it with its size.
func parse(b []byte) (tag, int, error) {
	if len(b) == 0 {
		return tag{}, 0, ErrShort
	}
	t := tag{number: b[0] >> 4, class: (b[0] >> 3) & 1}
	lvt := int(b[0] & 0x07)
	i := 1
	if t.number == 0x0f { // extended tag number
		if len(b) < 2 {
			return tag{}, 0, ErrShort
		}
		if b[1] == 0xff {
			return tag{}, 0, fmt.Errorf("%w: reserved tag number", ErrTag)
		}
		t.number = b[1]
		i = 2
	}
	switch {
	case t.class == classContext && lvt == 6:
		t.opening = true
		return t, i, nil
	case t.class == classContext && lvt == 7:
		t.closing = true
		return t, i, nil
	case t.class == classApp && t.number == 1:
		// Boolean: the value is in the LVT field, there are no contents.
		return t, i, nil
	case lvt == 5: // extended length
		if len(b) < i+1 {
			return tag{}, 0, ErrShort
		}
		switch n := b[i]; {
		case n <= 253:
			lvt, i = int(n), i+1
		case n == 254:
			if len(b) < i+3 {
				return tag{}, 0, ErrShort
			}
			lvt, i = int(b[i+1])<<8|int(b[i+2]), i+3
		default:
			if len(b) < i+5 {
				return tag{}, 0, ErrShort
			}
			if b[i+1] != 0 || b[i+2] != 0 {
				// More than 64 KiB never fits a BACnet/IP message.
				return tag{}, 0, fmt.Errorf("%w: length out of range", ErrTag)
			}
			lvt, i = int(b[i+3])<<8|int(b[i+4]), i+5
		}
	case lvt > 5:
		return tag{}, 0, fmt.Errorf("%w: application tag with LVT %d", ErrTag, lvt)
	}
	if len(b) < i+lvt {
		return tag{}, 0, ErrShort
	}
	t.data = b[i : i+lvt]
	return t, i + lvt, nil
}

// next consumes the next tag.
func (r *reader) next() (tag, error) {
	t, n, err := parse(r.b)
	if err != nil {
		return tag{}, err
	}
	r.b = r.b[n:]
	return t, nil
}

// peekContext reports whether the next tag is context tag n (primitive,
// opening or closing).
func (r *reader) peekContext(n uint8) bool {
	t, _, err := parse(r.b)
	return err == nil && t.class == classContext && t.number == n && !t.closing
}

// app consumes application tag n and returns its contents.
func (r *reader) app(n uint8) ([]byte, error) {
	t, err := r.next()
	if err != nil {
		return nil, err
	}
	if t.class != classApp || t.number != n {
		return nil, fmt.Errorf("%w: want application tag %d", ErrTag, n)
	}
	return t.data, nil
}

// context consumes primitive context tag n and returns its contents.
func (r *reader) context(n uint8) ([]byte, error) {
	t, err := r.next()
	if err != nil {
		return nil, err
	}
	if t.class != classContext || t.number != n || t.opening || t.closing {
		return nil, fmt.Errorf("%w: want context tag %d", ErrTag, n)
	}
	return t.data, nil
}

// opening consumes opening tag n.
func (r *reader) opening(n uint8) error {
	t, err := r.next()
	if err != nil {
		return err
	}
	if !t.opening || t.number != n {
		return fmt.Errorf("%w: want opening tag %d", ErrTag, n)
	}
	return nil
}

// closing consumes closing tag n if it comes next.
func (r *reader) closing(n uint8) (bool, error) {
	t, size, err := parse(r.b)
	if err != nil {
		return false, err
	}
	if t.closing && t.number == n {
		r.b = r.b[size:]
		return true, nil
	}
	return false, nil
}

// openedValue consumes the constructed value in opening and closing tag
// n. When it holds exactly one primitive tag, that tag is returned with
// ok set; otherwise (a list, a nested structure) ok is false.
func (r *reader) openedValue(n uint8) (tag, error) {
	if err := r.opening(n); err != nil {
		return tag{}, err
	}
	first, err := r.next()
	if err != nil {
		return tag{}, err
	}
	if first.closing && first.number == n {
		return tag{}, nil // empty value
	}
	if !first.opening && !first.closing {
		if done, err := r.closing(n); err != nil || done {
			first.ok = done
			return first, err
		}
	}
	if first.closing {
		return tag{}, fmt.Errorf("%w: want closing tag %d", ErrTag, n)
	}
	depth := 1
	if first.opening {
		depth++
	}
	return tag{}, r.skip(depth, n)
}

// skipConstructed consumes the constructed value in opening and closing
// tag n.
func (r *reader) skipConstructed(n uint8) error {
	if err := r.opening(n); err != nil {
		return err
	}
	return r.skip(1, n)
}

// skip consumes tags until the closing tag n that brings the nesting depth
// to zero.
func (r *reader) skip(depth int, n uint8) error {
	for depth > 0 {
		t, err := r.next()
		if err != nil {
			return err
		}
		switch {
		case t.opening:
			depth++
		case t.closing:
			depth--
			if depth == 0 && t.number != n {
				return fmt.Errorf("%w: want closing tag %d", ErrTag, n)
			}
		}
	}
	return nil
}
