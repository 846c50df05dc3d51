package watch

import (
	"context"
	"time"
)

// Message is one queue message.
type Message struct {
	// ID is the queue's message id, the same on every delivery.
	ID   string
	Body []byte
	// Sent is when the message was published to the queue.
	Sent time.Time
	// Attempt is the queue's delivery count (0 when it keeps none).
	Attempt int
	// Attributes are the message's attributes (Pub/Sub) or message
	// attributes (SQS).
	Attributes map[string]string

	ack        func(ctx context.Context) error
	release    func(ctx context.Context) error
	deadLetter func(ctx context.Context, reason string) error
}

// Ack removes the message from the queue: its result is recorded.
func (m *Message) Ack(ctx context.Context) error { return m.ack(ctx) }

// Release returns the message to the queue at once (on shutdown). A
// message to try again later is not released: the watcher keeps it (its
// lease extended) and hands it to a worker when its time comes, so a
// retry neither holds a worker nor adds to the queue's delivery count.
func (m *Message) Release(ctx context.Context) error { return m.release(ctx) }

// HasDeadLetter reports whether the source has a dead-letter queue.
func (m *Message) HasDeadLetter() bool { return m.deadLetter != nil }

// DeadLetter moves the message to the dead-letter queue, with the reason.
func (m *Message) DeadLetter(ctx context.Context, reason string) error {
	return m.deadLetter(ctx, reason)
}

// Source is a queue of messages.
type Source interface {
	// Receive reads messages until ctx is done and hands each to deliver,
	// which blocks while every worker is busy (that is the back-pressure:
	// the queue is not read meanwhile). When deliver returns false the
	// source releases the message. A message deliver took stays leased
	// (its visibility timeout or ack deadline extended) until it is
	// acknowledged, released or dead-lettered. Receive returns nil when ctx
	// ends (once what it handed out is settled, for sources that wait for
	// that), or the error that stops it.
	Receive(ctx context.Context, deliver func(*Message) bool) error
	// Describe names the queue in logs.
	Describe() string
}
