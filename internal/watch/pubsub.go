package watch

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigil-ir/vigil/engine/config"
)

// PubSub reads a Pub/Sub subscription with streaming pull; flow control
// holds at most MaxOutstanding messages unacknowledged (see
// MaxOutstanding: the workers' and those waiting to be tried again).
type PubSub struct {
	Client         *pubsub.Client
	Subscription   string
	DeadLetter     *pubsub.Publisher
	MaxOutstanding int
	Log            *slog.Logger
}

// NewPubSub connects to the subscription's project: Application Default
// Credentials, or no credentials for an emulator (the endpoint override, or
// PUBSUB_EMULATOR_HOST, which the client honours itself).
func NewPubSub(ctx context.Context, c *config.PubSub, maxOutstanding int, log *slog.Logger) (*PubSub, error) {
	project := strings.Split(c.Subscription, "/")[1]
	var opts []option.ClientOption
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.Endpoint), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	} else if os.Getenv("PUBSUB_EMULATOR_HOST") != "" {
		opts = append(opts, option.WithoutAuthentication())
	}
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub: connect to %s: %w", project, err)
	}
	p := &PubSub{Client: client, Subscription: c.Subscription, MaxOutstanding: maxOutstanding, Log: log}
	if c.DeadLetterTopic != "" {
		p.DeadLetter = client.Publisher(c.DeadLetterTopic)
	}
	return p, nil
}

// Describe implements Source.
func (p *PubSub) Describe() string { return "pubsub " + p.Subscription }

// Close stops the publisher and the client.
func (p *PubSub) Close() error {
	if p.DeadLetter != nil {
		p.DeadLetter.Stop()
	}
	return p.Client.Close()
}

// Receive implements Source.
func (p *PubSub) Receive(ctx context.Context, deliver func(*Message) bool) error {
	sub := p.Client.Subscriber(p.Subscription)
	sub.ReceiveSettings.MaxOutstandingMessages = p.MaxOutstanding
	sub.ReceiveSettings.NumGoroutines = 1
	for {
		err := sub.Receive(ctx, func(_ context.Context, pm *pubsub.Message) {
			m := &Message{ID: pm.ID, Body: pm.Data, Sent: pm.PublishTime, Attributes: pm.Attributes}
			if pm.DeliveryAttempt != nil {
				m.Attempt = *pm.DeliveryAttempt
			}
			m.ack = func(context.Context) error { pm.Ack(); return nil }
			m.release = func(context.Context) error { pm.Nack(); return nil }
			if p.DeadLetter != nil {
				m.deadLetter = func(ctx context.Context, reason string) error {
					// The message's own attributes first, then vigil's: a
					// publisher cannot set the reason it is dead-lettered for.
					attrs := maps.Clone(pm.Attributes)
					if attrs == nil {
						attrs = map[string]string{}
					}
					attrs["vigil-error"], attrs["vigil-source"] = truncate(reason, 1024), p.Subscription
					_, err := p.DeadLetter.Publish(ctx, &pubsub.Message{Data: pm.Data, Attributes: attrs}).Get(ctx)
					return err
				}
			}
			// The callback returns once a worker has the message: the
			// client keeps extending its ack deadline until it is settled,
			// and the callback's flow-control slot is free for the next.
			// MaxOutstanding (what the server sends before acks) bounds
			// the messages held, those waiting to be tried again included.
			if !deliver(m) {
				pm.Nack()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pubsub: receive from %s: %w", p.Subscription, err)
		}
	}
}
