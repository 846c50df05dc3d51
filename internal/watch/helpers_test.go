package watch

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/vigil-ir/vigil/engine/triage"
)

type triageRunbook = triage.RunbookInfo

// leakedKey describes the built-in leaked-aws-access-key runbook as the CLI
// does (runbookInfos).
var leakedKey = triage.RunbookInfo{Name: "leaked-aws-access-key", Title: "Revoke a leaked AWS access key", Tags: []string{"aws", "iam"},
	Variables: []string{"access_key_id", "incident"}, Required: []string{"access_key_id", "incident"}, FromAlert: true}

func queueAttrs(q string) *sqs.GetQueueAttributesInput {
	return &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []sqstypes.QueueAttributeName{"All"}}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
