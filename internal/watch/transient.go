package watch

import (
	"context"
	"errors"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-ir/vigil/internal/provider/aws"
	"github.com/vigil-ir/vigil/internal/store"
)

// awsRetryable and awsThrottle are the AWS SDK's own classification of
// errors worth retrying (throttling, 5xx answers, dropped connections).
var (
	awsRetryable = retry.IsErrorRetryables(retry.DefaultRetryables)
	awsThrottle  = retry.IsErrorThrottles(retry.DefaultThrottles)
)

// transient reports whether a failure is not the message's fault and
// passes by itself: the provider throttling or unavailable (after its
// client's own retries), the network, the store busy or out of reach, a
// full disk. Such a failure is retried with backoff and does not count
// towards max_attempts; a message is never given up on for it. A missing
// permission is never transient, even beside transient errors: every
// error of a joined error must be transient.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *aws.PermissionError
	if errors.As(err, &pe) {
		return false
	}
	// A joined error (the AWS reader joins one per resource), wrapped or
	// not, is judged by its parts.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			errs := multi.Unwrap()
			for _, part := range errs {
				if !transient(part) {
					return false
				}
			}
			return len(errs) > 0
		}
	}
	if store.Transient(err) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) { // Google's gRPC APIs (Cloud Asset)
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	var ge *googleapi.Error // Google's REST APIs
	if errors.As(err, &ge) {
		switch ge.Code {
		case 429, 500, 502, 503, 504:
			return true
		}
		return false
	}
	return awsThrottle.IsErrorThrottle(err).Bool() || awsRetryable.IsErrorRetryable(err).Bool()
}
