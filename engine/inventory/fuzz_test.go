package inventory

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// seedLines adds every line of the files as a seed.
func seedLines(f *testing.F, paths ...string) {
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			f.Add(append([]byte(nil), sc.Bytes()...))
		}
		fh.Close()
	}
}

func seedFiles(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzCAIRecord: any record either decodes or returns an error; never panics.
func FuzzCAIRecord(f *testing.F) {
	dir := testutil.Fixture(f, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data")
	seedLines(f, filepath.Join(dir, "mock_cai_resources.dump"), filepath.Join(dir, "mock_cai_iam_policies.dump"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		x := newCAIIndex()
		if wantsPrepass(raw) {
			_ = x.learn(raw)
		}
		a, _, err := x.decodeCAI(raw, "cai-export")
		if err == nil && a != nil && (a.ID == "" || a.Kind == "") {
			t.Errorf("decoded asset without id or kind: %+v", a)
		}
		_, _ = x.leftovers("cai-export")
	})
}

// FuzzConfigItem covers AWS Config items, including string configurations.
func FuzzConfigItem(f *testing.F) {
	matches, _ := filepath.Glob(testutil.Fixture(f, "awslabs__aws-config-rdk", "rdk", "template", "example_ci", "*.json"))
	seedFiles(f, matches...)
	f.Add([]byte(`{"resourceType":"AWS::EC2::SecurityGroup","resourceId":"sg-1","configuration":"{\"ipPermissions\":[{\"ipProtocol\":\"-1\",\"ipRanges\":[\"0.0.0.0/0\"]}]}"}`))
	f.Add([]byte(`{"resourceType":"AWS::S3::Bucket","resourceId":"b","supplementaryConfiguration":{"BucketPolicy":{"policyText":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"*\"]}}}"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, _, err := decodeConfigItem(raw, "aws-config")
		if err == nil && (a == nil || a.ID == "") {
			t.Errorf("decoded item without id: %+v", a)
		}
	})
}

// FuzzVigilAsset covers vigil's own NDJSON.
func FuzzVigilAsset(f *testing.F) {
	seedLines(f, testutil.Path(f, "examples", "inventory", "aws-iam.ndjson"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := decodeVigil(raw)
		if err == nil && (a.ID == "" || a.Kind == "" || a.Provider == "") {
			t.Errorf("accepted an incomplete asset: %+v", a)
		}
	})
}

// FuzzLoad feeds whole files through detection and streaming: arrays,
// documents, NDJSON, garbage. Errors are fine; panics and hangs are not.
func FuzzLoad(f *testing.F) {
	pl := testutil.Fixture(f, "GoogleCloudPlatform__policy-library", "validator", "test", "fixtures")
	seedFiles(f,
		filepath.Join(pl, "network_restrict_default", "assets", "data.json"),
		filepath.Join(pl, "storage_bucket_world_readable", "assets", "data.json"),
		testutil.Fixture(f, "awslabs__aws-config-rdk", "rdk", "template", "example_ci", "AWS_EC2_VPC.json"),
		testutil.Path(f, "examples", "inventory", "aws-iam.ndjson"),
	)
	f.Add([]byte(`{"fileVersion":"1.0","configurationItems":[{"resourceType":"AWS::EC2::VPC","resourceId":"vpc-1","arn":"arn:aws:ec2:r:1:vpc/vpc-1","accountId":"1","configuration":{"isDefault":true}}]}`))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, content []byte) {
		p := filepath.Join(t.TempDir(), "in.json")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		fs, err := Open(p)
		if err != nil {
			return
		}
		_, _ = Collect(context.Background(), fs)
	})
}
