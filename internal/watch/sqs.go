package watch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/vigil-ir/vigil/engine/config"
)

// SQS reads an Amazon SQS queue with long polling.
type SQS struct {
	Client   *sqs.Client
	QueueURL string
	// DeadLetterURL, when set, receives poison messages.
	DeadLetterURL string
	Wait          time.Duration
	Visibility    time.Duration
	Log           *slog.Logger
	// Backlog, when set, is told the queue's approximate depth now and then.
	Backlog func(n float64)
	// Pollers is how many long polls are kept open at once (default 3).
	// One poll at a time leaves the queue unread while its answer is
	// handed out and the next request travels, and an emulator such as
	// goaws looks for new messages only every 100 ms of a long poll: a
	// message waited for the next look. Polls side by side look in turn,
	// and SQS recommends them for throughput.
	Pollers int
}

// NewSQS makes the client for a watch's sqs block: the SDK's credential
// chain, the region from the block or the queue URL, the endpoint override
// (also AWS_ENDPOINT_URL_SQS), and the query protocol for emulators that
// predate SQS's JSON protocol.
func NewSQS(ctx context.Context, c *config.SQS, log *slog.Logger) (*SQS, error) {
	var lo []func(*awsconfig.LoadOptions) error
	region := c.Region
	if region == "" {
		region = regionOfQueue(c.QueueURL)
	}
	if region != "" {
		lo = append(lo, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("sqs: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		if c.Protocol == "query" {
			// The SDK speaks SQS's older query protocol when asked; the
			// protocol needs only the API version.
			o.Protocol = awsquery.New(&smithy.ServiceSchema{Version: "2012-11-05"})
			// Its query deserializer reads a large streamed ReceiveMessage
			// answer incompletely (the messages past the first read are
			// lost until their visibility timeout ends): hand it whole
			// bodies.
			o.HTTPClient = &http.Client{Transport: wholeBodies{http.DefaultTransport}}
		}
	})
	return &SQS{Client: client, QueueURL: c.QueueURL, DeadLetterURL: c.DeadLetterQueueURL, Wait: c.WaitTime, Visibility: c.VisibilityTimeout, Log: log}, nil
}

// regionOfQueue reads the region of https://sqs.REGION.amazonaws.com/...
func regionOfQueue(u string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	parts := strings.Split(host, ".")
	if len(parts) >= 3 && parts[0] == "sqs" {
		return parts[1]
	}
	return ""
}

// Describe implements Source.
func (s *SQS) Describe() string { return "sqs " + s.QueueURL }

// Receive implements Source.
func (s *SQS) Receive(ctx context.Context, deliver func(*Message) bool) error {
	n := s.Pollers
	if n <= 0 {
		n = 3
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i > 0 {
				// Staggered, so that the polls do not look at the same
				// moments.
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(i) * 100 * time.Millisecond / time.Duration(n)):
				}
			}
			s.poll(ctx, deliver, i == 0)
		}()
	}
	wg.Wait()
	return nil
}

// poll is one long-polling loop; the first also reports the backlog.
func (s *SQS) poll(ctx context.Context, deliver func(*Message) bool, first bool) {
	backoff := time.Second
	lastDepth := time.Time{}
	for ctx.Err() == nil {
		if first && s.Backlog != nil && time.Since(lastDepth) > 15*time.Second {
			lastDepth = time.Now()
			s.depth(ctx)
		}
		// The long poll is not cancelled with ctx: messages it takes are
		// invisible until their timeout, so a cancelled poll would hide
		// them. It ends within the wait time; what it brings after
		// shutdown is put back at once.
		pctx, cancel := context.WithTimeout(context.Background(), s.Wait+30*time.Second)
		out, err := s.Client.ReceiveMessage(pctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL), MaxNumberOfMessages: 10,
			WaitTimeSeconds: int32(s.Wait / time.Second), VisibilityTimeout: int32(s.Visibility / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount, sqstypes.MessageSystemAttributeNameSentTimestamp},
			MessageAttributeNames:       []string{"All"}})
		cancel()
		if err == nil && ctx.Err() != nil {
			for _, m := range out.Messages {
				s.message(m).Release(context.Background())
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.Log.Error("sqs: receive failed; retrying", "queue", s.QueueURL, "in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		for i, m := range out.Messages {
			msg := s.message(m)
			if !deliver(msg) {
				// Shutting down: what was received but not started goes
				// back at once.
				for _, rest := range out.Messages[i:] {
					s.message(rest).Release(context.Background())
				}
				return
			}
		}
	}
	return
}

func (s *SQS) depth(ctx context.Context) {
	out, err := s.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(s.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return
	}
	if n, err := strconv.ParseFloat(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], 64); err == nil {
		s.Backlog(n)
	}
}

func (s *SQS) message(m sqstypes.Message) *Message {
	msg := &Message{ID: aws.ToString(m.MessageId), Body: []byte(aws.ToString(m.Body)), Attributes: map[string]string{}}
	if ms, err := strconv.ParseInt(m.Attributes[string(sqstypes.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.Sent = time.UnixMilli(ms)
	}
	msg.Attempt, _ = strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	for k, v := range m.MessageAttributes {
		msg.Attributes[k] = aws.ToString(v.StringValue)
	}
	handle := m.ReceiptHandle
	visibility := func(ctx context.Context, d time.Duration) error {
		_, err := s.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(s.QueueURL), ReceiptHandle: handle,
			VisibilityTimeout: int32(min(d, 12*time.Hour) / time.Second)})
		return err
	}
	// While the message waits or is processed, its visibility timeout is
	// extended, so a short timeout (which brings a message back soon after
	// a crash) does not make a slow event come back while it is handled.
	stop := make(chan struct{})
	var once sync.Once
	settle := func() { once.Do(func() { close(stop) }) }
	if s.Visibility >= 2*time.Second {
		go func() {
			// a third of the timeout: two renewals may fail (or be slow)
			// before the message shows again
			t := time.NewTicker(s.Visibility / 3)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					if err := visibility(ctx, s.Visibility); err != nil && s.Log != nil {
						s.Log.Warn("watch: could not extend the message's visibility timeout; it may be delivered again while it is handled (the event id keeps it from being handled twice)", "queue", s.QueueURL, "message", msg.ID, "err", err)
					}
					cancel()
				}
			}
		}()
	}
	msg.ack = func(ctx context.Context) error {
		settle()
		_, err := s.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.QueueURL), ReceiptHandle: handle})
		return err
	}
	msg.release = func(ctx context.Context) error { settle(); return visibility(ctx, 0) }
	if s.DeadLetterURL != "" {
		msg.deadLetter = func(ctx context.Context, reason string) error {
			settle()
			_, err := s.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.DeadLetterURL), MessageBody: m.Body,
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					"vigil-error":  {DataType: aws.String("String"), StringValue: aws.String(truncate(reason, 1024))},
					"vigil-source": {DataType: aws.String("String"), StringValue: aws.String(s.QueueURL)},
				}})
			return err
		}
	}
	return msg
}

// wholeBodies reads each response body into memory before the SDK sees it.
type wholeBodies struct{ next http.RoundTripper }

func (t wholeBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	resp.ContentLength = int64(len(raw))
	return resp, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
