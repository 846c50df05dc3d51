package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-ir/vigil/engine/policy"
)

// ASFF, the AWS Security Finding Format, as Security Hub's
// BatchImportFindings takes it. A call takes at most asffBatch findings,
// so the output is JSON Lines: each line is one call's Findings array
// (at most 100 findings), ready for
//
//	aws securityhub batch-import-findings --findings file://batch.json
//
// With 100 findings or fewer the whole output is that one array; with
// more, `split -l 1` makes one file per call. No findings, no line (the
// API refuses an empty list). The limits below are Security Hub's
// (AwsSecurityFinding in its API model); longer text is cut at a rune
// boundary with "…".

// asffBatch is BatchImportFindings' maximum number of findings per call.
const asffBatch = 100

// SecurityHub is where ASFF findings are imported: the Security Hub
// region and the importing account, which make the product ARN of a
// custom integration.
type SecurityHub struct {
	// ProductARN, when set, is used as given
	// (arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default).
	ProductARN string
	// Region and Account build the ARN when ProductARN is not set; an
	// empty Account is the single AWS account of the findings.
	Region, Account string
}

var productARNPattern = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):securityhub:([a-z0-9-]+):(\d{12}):product/[^/]+/[^/]+$`)

// ParseProductARN checks a Security Hub product ARN and returns its account.
func ParseProductARN(arn string) (account string, err error) {
	m := productARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return "", fmt.Errorf("%q is not a Security Hub product ARN (arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default)", arn)
	}
	return m[3], nil
}

type asffFinding struct {
	SchemaVersion   string            `json:"SchemaVersion"`
	ID              string            `json:"Id"`
	ProductArn      string            `json:"ProductArn"`
	ProductName     string            `json:"ProductName"`
	CompanyName     string            `json:"CompanyName"`
	GeneratorID     string            `json:"GeneratorId"`
	AwsAccountID    string            `json:"AwsAccountId"`
	Types           []string          `json:"Types"`
	FirstObservedAt string            `json:"FirstObservedAt"`
	LastObservedAt  string            `json:"LastObservedAt"`
	CreatedAt       string            `json:"CreatedAt"`
	UpdatedAt       string            `json:"UpdatedAt"`
	Severity        asffSeverity      `json:"Severity"`
	Title           string            `json:"Title"`
	Description     string            `json:"Description"`
	Remediation     *asffRemediation  `json:"Remediation,omitempty"`
	ProductFields   map[string]string `json:"ProductFields"`
	Resources       []asffResource    `json:"Resources"`
	Compliance      asffCompliance    `json:"Compliance"`
	Workflow        asffWorkflow      `json:"Workflow"`
	RecordState     string            `json:"RecordState"`
	Note            *asffNote         `json:"Note,omitempty"`
}

type asffSeverity struct {
	Label    string `json:"Label"`
	Original string `json:"Original"`
}

type asffRemediation struct {
	Recommendation asffRecommendation `json:"Recommendation"`
}

type asffRecommendation struct {
	Text string `json:"Text"`
	URL  string `json:"Url,omitempty"`
}

type asffResource struct {
	Type      string               `json:"Type"`
	ID        string               `json:"Id"`
	Partition string               `json:"Partition,omitempty"`
	Region    string               `json:"Region,omitempty"`
	Details   *asffResourceDetails `json:"Details,omitempty"`
}

type asffResourceDetails struct {
	Other map[string]string `json:"Other"`
}

type asffCompliance struct {
	Status              string   `json:"Status"`
	RelatedRequirements []string `json:"RelatedRequirements,omitempty"`
}

type asffWorkflow struct {
	Status string `json:"Status"`
}

type asffNote struct {
	Text      string `json:"Text"`
	UpdatedBy string `json:"UpdatedBy"`
	UpdatedAt string `json:"UpdatedAt"`
}

// asffSeverityLabel maps vigil's severities to Security Hub's labels.
func asffSeverityLabel(sev string) string {
	switch sev {
	case "critical", "high", "medium", "low":
		return strings.ToUpper(sev)
	}
	return "INFORMATIONAL"
}

var awsAccountID = regexp.MustCompile(`^\d{12}$`)

// ASFF prints the findings as Security Hub findings, one line per
// BatchImportFindings call.
func ASFF(w io.Writer, r *Report) error {
	productARN, account, err := r.productARN()
	if err != nil {
		return err
	}
	when := r.Summary.Started
	if when.IsZero() {
		when = time.Now()
	}
	// Security Hub reads ISO 8601 with at most millisecond precision.
	ts := when.UTC().Format("2006-01-02T15:04:05.000Z")
	frameworks := map[string][]string{}
	for _, p := range r.Policies {
		frameworks[p.ID] = p.Frameworks
	}
	bw := bufio.NewWriter(w)
	var buf bytes.Buffer
	n := 0
	for f := range r.Findings.All() {
		p, placed := r.place(&f)
		fp := f.Fingerprint()
		if placed && p.Input != "" {
			fp = f.FingerprintIn(p.Input)
		}
		b, err := compactJSON(&buf, asffFindingOf(f, fp, productARN, account, ts, frameworksFor(f.Provider, frameworks[f.PolicyID])))
		if err != nil {
			return err
		}
		switch {
		case n%asffBatch == 0 && n > 0:
			bw.WriteString("]\n[")
		case n == 0:
			bw.WriteByte('[')
		default:
			bw.WriteByte(',')
		}
		bw.Write(b)
		n++
	}
	if n > 0 {
		bw.WriteString("]\n")
	}
	if err := r.Findings.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// CheckSecurityHub tells whether the findings can be written as ASFF: the
// importing account and region are known.
func (r *Report) CheckSecurityHub() error {
	_, _, err := r.productARN()
	return err
}

// productARN is the ARN findings are imported under and the account of
// findings that are not an AWS account's (GCP, Terraform plans).
func (r *Report) productARN() (arn, account string, err error) {
	sh := r.SecurityHub
	if sh.ProductARN != "" {
		acct, err := ParseProductARN(sh.ProductARN)
		return sh.ProductARN, acct, err
	}
	account = sh.Account
	if account == "" {
		var seen []string
		for f := range r.Findings.All() {
			if f.Provider == "aws" && awsAccountID.MatchString(f.Scope) && !slices.Contains(seen, f.Scope) {
				seen = append(seen, f.Scope)
			}
		}
		if len(seen) == 1 {
			account = seen[0]
		} else {
			return "", "", fmt.Errorf("--format asff: the findings are of %d AWS accounts; say which account imports them with --asff-product-arn arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default", len(seen))
		}
	}
	if sh.Region == "" {
		return "", "", fmt.Errorf("--format asff: Security Hub's region is not known; set AWS_REGION or give --asff-product-arn arn:aws:securityhub:REGION:%s:product/%s/default", account, account)
	}
	partition := "aws"
	switch {
	case strings.HasPrefix(sh.Region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(sh.Region, "us-gov-"):
		partition = "aws-us-gov"
	}
	arn = fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", partition, sh.Region, account, account)
	if _, err := ParseProductARN(arn); err != nil {
		return "", "", fmt.Errorf("--format asff: %v", err)
	}
	return arn, account, nil
}

func asffFindingOf(f policy.Finding, fingerprint, productARN, account, ts string, frameworks []string) asffFinding {
	if awsAccountID.MatchString(f.Scope) && f.Provider == "aws" {
		account = f.Scope
	}
	desc := f.Message
	if strings.TrimSpace(desc) == "" {
		desc = f.Title
	}
	out := asffFinding{
		SchemaVersion: "2018-10-08",
		// the same policy on the same asset is the same finding in every
		// scan: Security Hub updates it instead of adding another
		ID:          "vigil/" + f.PolicyID + "/" + fingerprint,
		ProductArn:  productARN,
		ProductName: "vigil", CompanyName: "vigil",
		GeneratorID:     cut("vigil/"+f.PolicyID, 512),
		AwsAccountID:    account,
		Types:           asffTypes(frameworks),
		FirstObservedAt: ts, LastObservedAt: ts, CreatedAt: ts, UpdatedAt: ts,
		Severity:      asffSeverity{Label: asffSeverityLabel(f.Severity), Original: cut(f.Severity, 64)},
		Title:         cut(f.Title, 256),
		Description:   cut(desc, 1024),
		ProductFields: asffProductFields(f),
		Resources:     []asffResource{asffResourceOf(f)},
		Compliance:    asffCompliance{Status: "FAILED"},
		Workflow:      asffWorkflow{Status: "NEW"},
		RecordState:   "ACTIVE",
	}
	if out.Title == "" {
		out.Title = f.PolicyID
	}
	for _, fw := range frameworks {
		if len(out.Compliance.RelatedRequirements) < 32 {
			out.Compliance.RelatedRequirements = append(out.Compliance.RelatedRequirements, fw)
		}
	}
	if f.Remediation != "" {
		out.Remediation = &asffRemediation{Recommendation: asffRecommendation{
			Text: cut(fmt.Sprintf("Plan the fix with the runbook %s: vigil runbook plan %s (see vigil runbook show %s for its variables).", f.Remediation, f.Remediation, f.Remediation), 512),
		}}
	}
	if f.Waived {
		// BatchImportFindings sets Workflow only when it creates the
		// finding; BatchUpdateFindings changes it afterwards.
		out.Workflow.Status = "SUPPRESSED"
		out.Note = &asffNote{Text: cut(fmt.Sprintf("Waived until %s: %s", f.WaiverExpires, f.WaiverReason), 512), UpdatedBy: "vigil", UpdatedAt: ts}
	}
	return out
}

// asffTypes puts a finding under "Software and Configuration Checks",
// with each framework the policy implements as the classifier of
// "Industry and Regulatory Standards" (at most 50 types).
func asffTypes(frameworks []string) []string {
	if len(frameworks) == 0 {
		return []string{"Software and Configuration Checks"}
	}
	var out []string
	for _, fw := range frameworks {
		if len(out) < 50 {
			out = append(out, cut("Software and Configuration Checks/Industry and Regulatory Standards/"+fw, 128))
		}
	}
	return out
}

func asffProductFields(f policy.Finding) map[string]string {
	m := map[string]string{"vigil/PolicyId": f.PolicyID, "vigil/Provider": f.Provider, "vigil/Kind": f.Kind, "vigil/Scope": f.Scope}
	if f.File != "" {
		m["vigil/File"] = f.File
		if f.Line > 0 {
			m["vigil/Line"] = fmt.Sprint(f.Line)
		}
	}
	if f.Change != "" {
		m["vigil/Change"] = f.Change
	}
	for k, v := range m {
		if strings.TrimSpace(v) == "" {
			delete(m, k)
		} else {
			m[k] = cut(v, 2048)
		}
	}
	return m
}

// asffResourceOf names the asset: an ARN and Security Hub's resource type
// (AWS::EC2::SecurityGroup is AwsEc2SecurityGroup) for AWS, and type
// Other with the full resource name and its project for others.
func asffResourceOf(f policy.Finding) asffResource {
	res := asffResource{Type: "Other", ID: f.AssetID}
	if rest, ok := strings.CutPrefix(f.AssetType, "AWS::"); ok {
		res.Type = cut("Aws"+asffTypeWords(rest), 256)
	}
	if part, region, ok := arnPartitionRegion(f.AssetID); ok {
		res.Partition = part
		if region != "" {
			res.Region = cut(region, 16)
		}
	} else if f.Provider != "aws" {
		other := map[string]string{"provider": f.Provider}
		if f.Scope != "" {
			other["scope"] = cut(f.Scope, 1024)
		}
		if f.AssetType != "" {
			other["type"] = cut(f.AssetType, 1024)
		}
		if f.AssetName != "" {
			other["name"] = cut(f.AssetName, 1024)
		}
		res.Details = &asffResourceDetails{Other: other}
	}
	if res.Region == "" && f.Region != "" && f.Region != "global" && len(f.Region) <= 16 {
		res.Region = f.Region
	}
	return res
}

// asffTypeWords writes a CloudFormation type's words as Security Hub's
// resource types do: EC2::SecurityGroup is Ec2SecurityGroup, RDS::DBInstance
// RdsDbInstance (an upper-case run is a word; its last letter starts the
// next word when a lower-case one follows).
func asffTypeWords(t string) string {
	var b strings.Builder
	for _, seg := range strings.Split(t, "::") {
		rs := []rune(seg)
		for i, r := range rs {
			prevUpper := i > 0 && unicode.IsUpper(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if i > 0 && unicode.IsUpper(r) && prevUpper && !nextLower {
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// arnPartitionRegion reads an ARN's partition and region (empty for IAM's
// global resources).
func arnPartitionRegion(id string) (partition, region string, ok bool) {
	parts := strings.SplitN(id, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return "", "", false
	}
	switch parts[1] {
	case "aws", "aws-cn", "aws-us-gov":
		return parts[1], parts[3], true
	}
	return "", "", false
}

// cut shortens s to at most n bytes at a rune boundary, ending in "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	s = s[:n-len(ell)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + ell
}
