package inventory

import (
	"net/url"
	"testing"
)

// Which permission documents only read, by hand from IAM's semantics.
func TestReadOnlyDocument(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want bool
	}{
		{`{"Statement":[{"Effect":"Allow","Action":["ec2:Describe*","s3:GetObject","s3:ListBucket","dynamodb:BatchGetItem"],"Resource":"*"}]}`, true},
		{`{"Statement":{"Effect":"Allow","Action":"cloudtrail:LookupEvents","Resource":"*"}}`, true},
		{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, false},
		{`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, false},
		{`{"Statement":[{"Effect":"Allow","Action":"s3:*Object","Resource":"*"}]}`, false},
		{`{"Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2:TerminateInstances"],"Resource":"*"}]}`, false},
		// NotAction in an Allow grants all it does not list.
		{`{"Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}]}`, false},
		// A Deny only takes away: a read-only Allow stays read-only, a
		// Deny of everything but reads does not make "*" read-only here.
		{`{"Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*"}]}`, true},
		{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"ec2:Describe*","Resource":"*"}]}`, false},
		// No Allow at all reads nothing, and writes nothing either.
		{`{"Statement":[]}`, true},
		{`not json`, false},
		// URL-encoded, as IAM and AWS Config give it.
		{url.QueryEscape(`{"Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`), true},
		{url.QueryEscape(`{"Statement":[{"Effect":"Allow","Action":"ec2:RunInstances","Resource":"*"}]}`), false},
	} {
		if got := ReadOnlyDocument(tt.doc); got != tt.want {
			t.Errorf("ReadOnlyDocument(%s) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}
