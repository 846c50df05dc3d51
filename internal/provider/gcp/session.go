// Package gcp is vigil's Google Cloud provider: it collects an
// organization's, folder's or project's inventory through the Cloud Asset
// API and carries out the gcp.* runbook actions with the Compute Engine and
// IAM APIs, with the contracts the simulated cloud implements.
//
// Every client takes an endpoint override (Options.Endpoint for the REST
// APIs, Options.AssetEndpoint for the Cloud Asset gRPC API; or
// VIGIL_GCP_ENDPOINT and VIGIL_GCP_ASSET_ENDPOINT, with
// VIGIL_GCP_POLL_INTERVAL for how often operations are looked at), so the
// same code runs against Google Cloud, an emulator or the fake in gcpfake.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"github.com/google/uuid"
	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/vigil-ir/vigil/engine/action"
)

// Options configure the provider. The zero value uses Application Default
// Credentials and Google's endpoints.
type Options struct {
	// Scope is organizations/N, folders/N or projects/P (collection).
	Scope string
	// AssetTypes overrides DefaultAssetTypes.
	AssetTypes []string
	// Export, a gs://bucket/prefix, collects through ExportAssets: the path
	// past what paging through ListAssets does in reasonable time.
	Export string
	// Impersonate is a service account to act as.
	Impersonate string
	// Endpoint is the base URL of the REST APIs (Compute, IAM, Storage),
	// AssetEndpoint the host:port of the Cloud Asset gRPC API. An http://
	// endpoint, or an asset endpoint without TLS, means no credentials.
	Endpoint      string
	AssetEndpoint string
	PageSize      int32
	// MaxAttempts and RetryInitial bound retries on quota errors.
	MaxAttempts  int
	RetryInitial time.Duration
	// PollInterval caps the wait between looks at an operation; Timeout
	// bounds each wait.
	PollInterval time.Duration
	Timeout      time.Duration
	Progress     io.Writer
	// PageDone, when set, is told of every page of ListAssets read (the
	// pages and records of all content types so far) instead of a line
	// on Progress; the API gives no total.
	PageDone func(pages, records int)
}

// DefaultAssetTypes cover what the built-in policies, triage and runbooks read.
var DefaultAssetTypes = []string{
	"cloudresourcemanager.googleapis.com/Organization",
	"cloudresourcemanager.googleapis.com/Folder",
	"cloudresourcemanager.googleapis.com/Project",
	// tags bound to folders, the organization and projects: folders have
	// no labels, so a data class set on one is a tag (VGL-DATA-001)
	"cloudresourcemanager.googleapis.com/TagBinding",
	"compute.googleapis.com/Network",
	"compute.googleapis.com/Subnetwork",
	"compute.googleapis.com/Firewall",
	"compute.googleapis.com/Instance",
	"compute.googleapis.com/Disk",
	"compute.googleapis.com/Snapshot",
	"compute.googleapis.com/Image",
	"compute.googleapis.com/VpnTunnel",
	"compute.googleapis.com/InterconnectAttachment",
	"storage.googleapis.com/Bucket",
	"iam.googleapis.com/ServiceAccount",
	"iam.googleapis.com/ServiceAccountKey",
	// issue 19: project metadata, the alerting chain, enabled services
	"compute.googleapis.com/Project",
	"logging.googleapis.com/LogSink",
	"logging.googleapis.com/LogMetric",
	"monitoring.googleapis.com/AlertPolicy",
	"serviceusage.googleapis.com/Service",
}

func (o *Options) defaults() {
	if o.Endpoint == "" {
		o.Endpoint = os.Getenv("VIGIL_GCP_ENDPOINT")
	}
	if o.AssetEndpoint == "" {
		o.AssetEndpoint = os.Getenv("VIGIL_GCP_ASSET_ENDPOINT")
	}
	if len(o.AssetTypes) == 0 {
		o.AssetTypes = DefaultAssetTypes
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = time.Second
	}
	if o.PollInterval <= 0 {
		// VIGIL_GCP_POLL_INTERVAL: emulators finish operations at once.
		if d, err := time.ParseDuration(os.Getenv("VIGIL_GCP_POLL_INTERVAL")); err == nil && d > 0 {
			o.PollInterval = d
		} else {
			o.PollInterval = 5 * time.Second
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
}

// session makes the API clients once.
type session struct {
	opts Options
	// sum is the collection's summary (Collect only): its gaps.
	sum *Summary
	// started is when Collect began: it names a list this collection read
	// only in part (see skip).
	started time.Time
	once    sync.Once
	err     error
	cmp     *compute.Service
	iam     *iam.Service
	gcs     *storage.Service
}

func (s *session) auth(ctx context.Context, plaintext bool) ([]option.ClientOption, error) {
	if plaintext {
		return []option.ClientOption{option.WithoutAuthentication()}, nil
	}
	if s.opts.Impersonate != "" {
		ts, err := impersonate.CredentialsTokenSource(ctx, impersonate.CredentialsConfig{TargetPrincipal: s.opts.Impersonate,
			Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
		if err != nil {
			return nil, fmt.Errorf("gcp: impersonate %s: %w", s.opts.Impersonate, err)
		}
		return []option.ClientOption{option.WithTokenSource(ts)}, nil
	}
	return nil, nil
}

func (s *session) rest(ctx context.Context) error {
	s.once.Do(func() {
		base := strings.TrimSuffix(s.opts.Endpoint, "/")
		auth, err := s.auth(ctx, strings.HasPrefix(base, "http://"))
		if err != nil {
			s.err = err
			return
		}
		with := func(path string) []option.ClientOption {
			if base == "" {
				return auth
			}
			return append(append([]option.ClientOption{}, auth...), option.WithEndpoint(base+path))
		}
		if s.cmp, s.err = compute.NewService(ctx, with("/compute/v1/")...); s.err != nil {
			return
		}
		if s.iam, s.err = iam.NewService(ctx, with("/")...); s.err != nil {
			return
		}
		s.gcs, s.err = storage.NewService(ctx, with("/storage/v1/")...)
	})
	return s.err
}

func (s *session) assetClient(ctx context.Context) (*asset.Client, error) {
	ep := s.opts.AssetEndpoint
	plaintext := ep != "" && !strings.HasSuffix(ep, ":443")
	auth, err := s.auth(ctx, plaintext)
	if err != nil {
		return nil, err
	}
	if ep != "" {
		auth = append(auth, option.WithEndpoint(ep))
		if plaintext {
			auth = append(auth, option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		}
	}
	c, err := asset.NewClient(ctx, auth...)
	if err != nil {
		return nil, fmt.Errorf("gcp: Cloud Asset client: %w", err)
	}
	return c, nil
}

// roleFor names the predefined role that grants a permission.
func roleFor(perm string) string {
	switch {
	case strings.HasPrefix(perm, "cloudasset."):
		return "roles/cloudasset.viewer"
	case strings.HasPrefix(perm, "compute.firewalls.") || perm == "compute.networks.updatePolicy":
		return "roles/compute.securityAdmin"
	case strings.HasPrefix(perm, "compute.snapshots.") || strings.HasPrefix(perm, "compute.images.") || strings.HasPrefix(perm, "compute.disks.createSnapshot"):
		return "roles/compute.storageAdmin"
	case strings.HasPrefix(perm, "compute."):
		return "roles/compute.instanceAdmin.v1"
	case strings.HasPrefix(perm, "iam.serviceAccountKeys."):
		return "roles/iam.serviceAccountKeyAdmin"
	case strings.HasPrefix(perm, "storage.objects."):
		return "roles/storage.objectViewer"
	case perm == "osconfig.vulnerabilityReports.list":
		return "roles/osconfig.vulnerabilityReportViewer"
	case perm == "containeranalysis.occurrences.list":
		return "roles/containeranalysis.occurrences.viewer"
	}
	return "a role that grants it"
}

// PermissionError is a call refused for lack of an IAM permission.
type PermissionError struct {
	Permission, Role string
	Err              error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("permission denied: the credentials lack %s (granted by %s): %v", e.Permission, e.Role, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

var permRe = regexp.MustCompile(`(?:Required '|permission:? )([a-z]+\.[A-Za-z]+\.[A-Za-z]+)`)

// explain names the missing permission and its role in denied calls.
func explain(err error, fallback string) error {
	if err == nil {
		return nil
	}
	denied := false
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == 403 {
		denied = true
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.PermissionDenied {
		denied = true
	}
	if !denied {
		return err
	}
	perm := fallback
	if m := permRe.FindStringSubmatch(err.Error()); m != nil {
		perm = m[1]
	}
	return &PermissionError{Permission: perm, Role: roleFor(perm), Err: err}
}

// retryable reports quota and transient errors, broken connections
// included (mutating calls carry a requestId, so retrying them is safe).
func retryable(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code == 429 || ge.Code == 500 || ge.Code == 502 || ge.Code == 503
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Code() == codes.ResourceExhausted || st.Code() == codes.Unavailable
	}
	return brokenConnection(err)
}

func brokenConnection(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	return strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "server closed the connection")
}

// do calls fn, retrying quota and transient errors with exponential
// backoff. Reads use it as is; mutating calls go through mutate, which
// makes their retries safe with a requestId.
func (s *session) do(ctx context.Context, fn func() error) error {
	wait := s.opts.RetryInitial
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt >= s.opts.MaxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 32*time.Second)
	}
}

// noWritesKey marks a context in which mutating calls are refused: Recover
// runs Apply that way, so an attempt that took effect in full is told
// apart from one with writes still to do.
type noWritesKey struct{}

// errWouldWrite is what a mutating call answers under readOnly.
var errWouldWrite = errors.New("the interrupted attempt had writes left to do")

func readOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, noWritesKey{}, true)
}

func writesRefused(ctx context.Context) bool { v, _ := ctx.Value(noWritesKey{}).(bool); return v }

// mutate makes one mutating Compute call and waits for its operation.
// The call carries a requestId, so the API ignores a retry of a request it
// already completed ("the server will know to ignore the request if it
// has already been completed"): the quota and 5xx retries of do cannot
// act twice. What is still unknown after the retries (a 5xx, a timeout, a
// reset connection, an operation that could not be looked at) is an
// action.OutcomeUnknownError: the engine asks Recover before trying again.
func (s *session) mutate(ctx context.Context, fn func(requestID string) (*compute.Operation, error)) error {
	if writesRefused(ctx) {
		return errWouldWrite
	}
	id := uuid.NewString()
	var op *compute.Operation
	err := s.do(ctx, func() error {
		var err error
		op, err = fn(id)
		return err
	})
	if err != nil {
		return unknownOutcome(ctx, err)
	}
	if err := s.wait(ctx, op); err != nil {
		// The call was accepted; only a finished operation tells.
		if errors.Is(err, errOperationFailed) || errors.Is(err, context.Canceled) {
			return err
		}
		return &action.OutcomeUnknownError{Err: err}
	}
	return nil
}

// mutateIAM makes a mutating IAM call (no operation to wait for).
func (s *session) mutateIAM(ctx context.Context, fn func() error) error {
	if writesRefused(ctx) {
		return errWouldWrite
	}
	if err := s.do(ctx, fn); err != nil {
		return unknownOutcome(ctx, err)
	}
	return nil
}

// unknownOutcome wraps the errors after which a mutating call may or may
// not have taken effect.
func unknownOutcome(ctx context.Context, err error) error {
	if outcomeUnknown(err) && ctx.Err() != context.Canceled {
		return &action.OutcomeUnknownError{Err: err}
	}
	return err
}

// outcomeUnknown reports a 5xx answer, a timeout or a broken connection:
// the request may have been carried out.
func outcomeUnknown(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errWaitTimeout) || brokenConnection(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == 404
}

func isConflict(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == 409
}
