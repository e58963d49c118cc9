package store

import (
	"reflect"
	"sync"
	"unsafe"

	chcol "github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// clickhouse-go builds new columns for every batch (PrepareBatch), and a
// column starts empty: appending 50,000 flow events grew every string
// column from nothing by doubling, 4.5 KB of garbage per event, a third
// of everything the writer allocated, and the copies and the collections
// that came with it. The driver has no way to give a batch buffers of
// its own, so columnPool moves the buffers of a table's earlier insert,
// already sent, into the next insert's columns.
//
// It reaches the driver's unexported column value by reflection: every
// column type of lib/column keeps its data in a field named col (a
// ch-go column: byte buffers and slices), and Reset truncates it keeping
// its capacity. A column type that does not look like that, or a driver
// whose layout changed, is left alone: the insert is the same, only
// slower (TestColumnReuse fails then).

// columnPool keeps the emptied driver columns of the last inserts of
// each table, for the next inserts to take their buffers. Inserts of the
// same table run at once (store.insert_workers), so it holds a few sets
// per table; the writer's batches share one pool.
type columnPool struct {
	mu   sync.Mutex
	free map[string][][]chcol.Interface
}

// maxFreeColumnSets bounds the sets kept per table: as many as inserts
// of one table can run at once, and the memory they keep (the bytes of a
// batch) with them.
const maxFreeColumnSets = 4

// adopt gives the columns of an insert about to be filled the buffers of
// an earlier insert of table. Columns are matched by position: a table's
// inserts name the same columns in the same order.
func (p *columnPool) adopt(table string, cols []chcol.Interface) (adopted int) {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	sets := p.free[table]
	var last []chcol.Interface
	if n := len(sets); n > 0 {
		last, p.free[table] = sets[n-1], sets[:n-1]
	}
	p.mu.Unlock()
	if len(last) != len(cols) {
		return 0
	}
	for i, c := range cols {
		if moveColumn(last[i], c) {
			adopted++
		}
	}
	return adopted
}

// keep takes the columns of an insert that was sent or abandoned: the
// driver emptied them and holds no reference to them any more.
func (p *columnPool) keep(table string, cols []chcol.Interface) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = make(map[string][][]chcol.Interface)
	}
	if len(p.free[table]) < maxFreeColumnSets {
		p.free[table] = append(p.free[table], cols)
	}
}

// moveColumn moves from's data field into to's and truncates it. from
// must not be used afterwards: both would share the buffers.
func moveColumn(from, to chcol.Interface) bool {
	src, ok := columnData(from)
	if !ok {
		return false
	}
	dst, ok := columnData(to)
	if !ok || src.Type() != dst.Type() {
		return false
	}
	dst.Set(src)
	to.Reset()
	return true
}

// columnData is the settable value of c's col field, when c is a pointer
// to a struct that has one.
func columnData(c chcol.Interface) (reflect.Value, bool) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName("col")
	if !f.IsValid() {
		return reflect.Value{}, false
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), true
}
