package store

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store/chtest"
)

// TestColumnReuse: an insert takes the driver's column buffers of the
// table's previous insert (every column of the flows table, the large
// string buffers with their capacity), and what it stores is its own
// rows, nothing left over from the earlier batch. It fails when a new
// clickhouse-go keeps its columns' data under another name: the writer
// is then as correct and slower.
func TestColumnReuse(t *testing.T) {
	s := chtest.Shared(t)
	cfg := testConfig(t, s)
	conn := openDB(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pool := new(columnPool)
	r := newKindRows()[events.KindFlow]
	r.reuseColumns(pool)
	fill := func(from, to int) {
		r.reset()
		for i := from; i < to; i++ {
			data, _ := testFlow(i, time.Duration(i)*time.Millisecond, pump, pacs, 104).Encode()
			env, m, err := decodeMeta(data, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.add(m, env.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(0, 200)
	if err := r.insert(ctx, conn); err != nil {
		t.Fatal(err)
	}

	// The emptied columns of that insert wait in the pool; a new batch
	// of the table takes all of them.
	batch, err := conn.PrepareBatch(ctx, flowTable.insertSQL())
	if err != nil {
		t.Fatal(err)
	}
	cols := batch.Columns()
	if n := pool.adopt("flows", cols); n != len(cols) {
		t.Errorf("adopted %d of %d columns", n, len(cols))
	}
	body, ok := columnData(cols[len(cols)-1])
	if !ok {
		t.Fatal("the body column has no data field")
	}
	str, ok := body.Addr().Interface().(*proto.ColStr)
	if !ok {
		t.Fatalf("the body column holds a %s", body.Type())
	}
	if str.Rows() != 0 || cap(str.Buf) < 200*300 {
		t.Errorf("body column: %d rows, %d bytes of capacity; want 0 rows and the first batch's bytes", str.Rows(), cap(str.Buf))
	}
	batch.Abort()
	pool.keep("flows", cols)

	// A smaller batch in the reused buffers stores exactly its rows.
	fill(200, 250)
	if err := r.insert(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if n := queryUint(t, conn, "SELECT count() FROM flows"); n != 250 {
		t.Errorf("%d rows, want 250", n)
	}
	for _, i := range []int{0, 199, 200, 249} {
		f := testFlow(i, time.Duration(i)*time.Millisecond, pump, pacs, 104)
		data, _ := f.Encode()
		env, _, _ := decodeMeta(data, 0)
		n := queryUint(t, conn, "SELECT count() FROM flows WHERE flow_id = ? AND body = ? AND orig_packets = ?",
			f.Body.FlowID, string(env.Body), f.Body.OrigPackets)
		if n != 1 {
			t.Errorf("flow %d: %d rows with its own values, want 1", i, n)
		}
	}
}
