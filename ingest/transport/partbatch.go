package transport

import (
	"sync/atomic"

	"github.com/segmentio/kafka-go"
)

// One write, one request per partition.
//
// A partition's messages must land in the order they were published: a
// consumer that skips what it has already seen by source position
// (detect's replay check) would skip a message that landed after a later
// one of its source as a replay. So a write sends each partition's
// messages as one produce request (produceWriter), which succeeds or
// fails as a whole, and a failed write is retried before anything newer.
// One request carries at most MaxMessageBytes, so the Producer cuts its
// writes such that no partition gets more than that.

// partitionCounter is the writer's balancer: Murmur2, as Java clients
// partition, remembering how many partitions the topic had at the last
// write, which lets the Producer tell where its messages will go.
//
// The Producer hashes each key once, when it cuts a write; the partition
// it found travels in the message's WriterData (an int) and is taken as
// is when the topic still has the hintN partitions it was found for.
type partitionCounter struct {
	kafka.Murmur2Balancer
	n     atomic.Int32
	hintN atomic.Int32
}

// Balance picks msg's partition and notes the partition count.
func (b *partitionCounter) Balance(msg kafka.Message, partitions ...int) int {
	n := len(partitions)
	if b.n.Load() != int32(n) { // a store per message would be a fence per message
		b.n.Store(int32(n))
	}
	if k, ok := msg.WriterData.(int); ok && k >= 0 && k < n && int(b.hintN.Load()) == n {
		return partitions[k]
	}
	return b.Murmur2Balancer.Balance(msg, partitions...)
}

// partitionOf is the partition of key among n, as Balance picks it for a
// topic whose partitions are 0..n-1, or -1 for a nil key (any partition).
func (b *partitionCounter) partitionOf(key []byte, n int, ids []int) int {
	if key == nil {
		return -1
	}
	return b.Murmur2Balancer.Balance(kafka.Message{Key: key}, ids[:n]...)
}

// partitionLoad tracks, while a write is assembled, what each partition
// would get, against the limits of one produce request.
type partitionLoad struct {
	bytes []int64
	count []int
	ids   []int
	// anyBytes, anyCount: messages without a key, which may go anywhere.
	anyBytes int64
	anyCount int
}

// reset prepares l for a write to n partitions.
func (l *partitionLoad) reset(n int) {
	if cap(l.bytes) < n {
		l.bytes, l.count, l.ids = make([]int64, n), make([]int, n), make([]int, n)
		for i := range l.ids {
			l.ids[i] = i
		}
	}
	l.bytes, l.count, l.ids = l.bytes[:n], l.count[:n], l.ids[:n]
	clear(l.bytes)
	clear(l.count)
	l.anyBytes, l.anyCount = 0, 0
}

// fits reports whether a message of size bytes for partition k (-1: any)
// still fits one batch of maxBytes and maxCount there, and if so counts it.
func (l *partitionLoad) fits(k int, size int64, maxBytes int64, maxCount int) bool {
	if k < 0 {
		for i := range l.bytes {
			if l.bytes[i]+l.anyBytes+size > maxBytes || l.count[i]+l.anyCount+1 > maxCount {
				return false
			}
		}
		l.anyBytes, l.anyCount = l.anyBytes+size, l.anyCount+1
		return true
	}
	if l.bytes[k]+l.anyBytes+size > maxBytes || l.count[k]+l.anyCount+1 > maxCount {
		return false
	}
	l.bytes[k], l.count[k] = l.bytes[k]+size, l.count[k]+1
	return true
}
