package anchor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// S3 keeps heads as objects in a bucket: one object per journal entry,
// written only if absent (If-None-Match), so a bucket with Object Lock in
// compliance mode (or a default retention) keeps every head for its
// retention period, whoever holds the state database.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
}

// NewS3 makes an S3 anchor with the SDK's credential chain; o.S3Endpoint
// (or AWS_ENDPOINT_URL) sends it elsewhere.
func NewS3(ctx context.Context, bucket, prefix string, o Options) (*S3, error) {
	var opts []func(*config.LoadOptions) error
	if o.S3Region != "" {
		opts = append(opts, config.WithRegion(o.S3Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("anchor s3://%s: load AWS configuration: %w", bucket, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.S3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.S3Endpoint)
		}
		// An endpoint override is an emulator: address buckets by path.
		so.UsePathStyle = o.S3Endpoint != "" || cfg.BaseEndpoint != nil
	})
	return &S3{client: client, bucket: bucket, prefix: prefix}, nil
}

// Record implements runbook.Anchor.
func (a *S3) Record(ctx context.Context, h runbook.Head) error {
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	key := objectName(a.prefix, h.RunID, h.Seq)
	_, err = a.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*")})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed" {
		// Written before (a resume re-anchoring its head): it must say the same.
		got, gerr := a.get(ctx, key)
		if gerr != nil {
			return gerr
		}
		if got.Hash != h.Hash {
			return fmt.Errorf("s3://%s/%s already records entry %d with hash %.12s, not %.12s", a.bucket, key, h.Seq, got.Hash, h.Hash)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", a.bucket, key, err)
	}
	return nil
}

func (a *S3) get(ctx context.Context, key string) (*runbook.Head, error) {
	out, err := a.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", a.bucket, key, err)
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(out.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	var h runbook.Head
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("s3://%s/%s is not a journal head: %w", a.bucket, key, err)
	}
	return &h, nil
}

// Heads implements runbook.Anchor.
func (a *S3) Heads(ctx context.Context, runID string) ([]runbook.Head, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(a.client, &s3.ListObjectsV2Input{Bucket: aws.String(a.bucket), Prefix: aws.String(runPrefix(a.prefix, runID))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", a.bucket, runPrefix(a.prefix, runID), err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	var out []runbook.Head
	for _, k := range keys {
		if _, err := strconv.ParseInt(strings.TrimSuffix(k[strings.LastIndexByte(k, '/')+1:], ".json"), 10, 64); err != nil {
			continue
		}
		h, err := a.get(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, *h)
	}
	return out, nil
}

// Runs implements runbook.AnchorLister: the run folders under the prefix.
func (a *S3) Runs(ctx context.Context) ([]string, error) {
	base := strings.TrimSuffix(runPrefix(a.prefix, ""), "/") // "PREFIX/", or "" for none
	var out []string
	p := s3.NewListObjectsV2Paginator(a.client, &s3.ListObjectsV2Input{Bucket: aws.String(a.bucket), Prefix: aws.String(base), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", a.bucket, base, err)
		}
		for _, cp := range page.CommonPrefixes {
			if id := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), base), "/"); id != "" {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func (a *S3) String() string {
	return "the anchor s3://" + a.bucket + "/" + strings.Trim(a.prefix, "/")
}
