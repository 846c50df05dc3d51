// Package awsfake is a stateful fake of the AWS endpoints vigil's AWS
// provider calls: EC2 and IAM (query protocol, XML responses), STS (query),
// S3 (REST XML), CloudTrail and Organizations (JSON 1.1) and GuardDuty
// (REST JSON). It speaks the wire protocols, so the provider under test is
// the same code that talks to AWS; only the endpoint differs.
//
// Requests are routed by the service and region in their SigV4
// Authorization header, and the caller's account comes from its access key
// (AssumeRole hands out keys bound to the role's account). Faults can be
// injected per service and operation: throttling and access denied.
package awsfake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Perm is one ingress or egress permission of a security group.
type Perm struct {
	Protocol string // "tcp", "udp", "icmp", "-1"
	From, To int    // -1 when the protocol has no ports
	CIDRs    []string
	IPv6     []string
	Groups   []string
}

// SecurityGroup is an EC2 security group.
type SecurityGroup struct {
	ID, Name, Description, VpcID string
	Ingress, Egress              []Perm
	Tags                         map[string]string
}

// ENI is a network interface of an instance.
type ENI struct {
	ID       string
	Groups   []string
	PublicIP string
}

// Instance is an EC2 instance.
type Instance struct {
	ID, AZ, VpcID, SubnetID, PrivateIP string
	State                              string // running, stopping, stopped, terminated
	ENIs                               []*ENI
	Volumes                            []string
	Tags                               map[string]string
	DisableAPITermination              bool
}

// Volume is an EBS volume; an encrypted one names its KMS key (an ARN).
type Volume struct {
	ID, AZ    string
	Size      int
	Encrypted bool
	KmsKeyID  string
	Tags      map[string]string
	// Blocks are the volume's written 512 KiB blocks, by index (see
	// ebs.go); the rest read as zeros.
	Blocks map[int64][]byte
}

// Snapshot is an EBS snapshot.
type Snapshot struct {
	ID, VolumeID, Description, KmsKeyID, SourceSnapshotID string
	State                                                 string // pending, completed
	Encrypted                                             bool
	Started                                               time.Time
	CreateVolumePermissions                               []string
	Tags                                                  map[string]string
	looks                                                 int
	// VolumeSize (GiB) and Blocks are its content, as the EBS direct APIs
	// read it; BadChecksum marks blocks served with a wrong checksum.
	VolumeSize  int
	Blocks      map[int64][]byte
	BadChecksum map[int64]bool
}

// VPC is a virtual network.
type VPC struct {
	ID, CIDR  string
	IsDefault bool
	Tags      map[string]string
}

// Subnet is a subnet of a VPC.
type Subnet struct {
	ID, VpcID, CIDR, AZ string
	Tags                map[string]string
}

// Region holds an account's regional resources.
type Region struct {
	VPCs           map[string]*VPC
	Subnets        map[string]*Subnet
	SecurityGroups map[string]*SecurityGroup
	Instances      map[string]*Instance
	Volumes        map[string]*Volume
	Snapshots      map[string]*Snapshot
	NetworkACLs    map[string]*NetworkACL
	// Flows are the connections open on the region's network interfaces,
	// as security group connection tracking sees them.
	Flows     []*Flow
	Trails    []*Trail
	Detectors map[string]string // id -> status (ENABLED, DISABLED)
}

// NetworkACL is a subnet's stateless firewall. A VPC's default ACL allows
// everything; a new one denies everything until entries are added.
type NetworkACL struct {
	ID, VpcID    string
	Default      bool
	AllowAll     bool              // the default ACL's rule 100: all traffic in and out
	Entries      []NACLEntry       // further numbered rules, written before the defaults
	Associations map[string]string // association id -> subnet id
	Tags         map[string]string
}

// Flow is one connection of a network interface. Inbound flows were
// opened by Peer; outbound ones by the instance, to Peer:Port.
type Flow struct {
	ID, ENI  string
	Protocol string // tcp, udp, icmp
	Peer     string // an IP address
	Port     int
	Inbound  bool
	// Via is the path of a flow that AWS tracks whatever the groups say
	// ("automatically tracked connections"): network-load-balancer,
	// nat-gateway, gateway-load-balancer, global-accelerator,
	// network-firewall or transit-gateway; "" for a direct one.
	Via string
	// Tracked says security group connection tracking follows the flow;
	// Open is false once it was interrupted, and EndedBy says how.
	Tracked bool
	Open    bool
	EndedBy string
}

// KMSKey is a KMS key; Manager is AWS (an AWS managed key such as
// aws/ebs) or CUSTOMER. Users are the other accounts its key policy lets
// use it.
type KMSKey struct {
	ID, ARN, Alias string
	Manager        string
	Users          []string
}

// AccessKey is an IAM access key.
type AccessKey struct {
	ID, User, Status  string
	Created, LastUsed time.Time
}

// User is an IAM user with its inline policies.
type User struct {
	Name, ID string
	Created  time.Time
	Policies map[string]string
	Tags     map[string]string
}

// Bucket is an S3 bucket.
type Bucket struct {
	Name, Region, Policy string
	Created              time.Time
	PublicAccessBlock    *[4]bool // BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets
	PublicRead           bool     // an ACL grant of READ to AllUsers
	Tags                 map[string]string
	// Objects are the bucket's objects by key (PutObject, GetObject,
	// ListObjectsV2; see s3objects.go).
	Objects map[string][]byte
}

// Trail is a CloudTrail trail (kept in its home region).
type Trail struct {
	Name, Bucket       string
	MultiRegion, OrgTr bool
	Logging            bool
	Validation         bool   // LogFileValidationEnabled
	LogGroupARN        string // CloudWatchLogsLogGroupArn
	// Selectors and Advanced are the trail's event selectors, as
	// PutEventSelectors sets them (raw wire JSON objects); a trail has one
	// or the other. Neither: the selector CreateTrail gives every trail
	// (all management events, read and write, no data events).
	Selectors, Advanced []map[string]any
}

// Account is one AWS account.
type Account struct {
	ID, Name     string
	Tags         map[string]string // the account's tags in Organizations
	Regions      map[string]*Region
	Users        map[string]*User
	Keys         map[string]*AccessKey
	RolePolicies map[string]map[string]string
	Roles        map[string]bool
	Buckets      map[string]*Bucket
	KMSKeys      map[string]*KMSKey // by key id
}

// Fault is an injected error.
type Fault struct {
	Service, Operation string // "" matches any
	// Kind is "throttle", "denied", "unavailable" (a 503 that is not
	// throttling) or "reset" (the connection closes without an answer).
	Kind  string
	Times int // how many requests it hits; <0 for all
	// After serves the request first, then answers with the fault: the
	// change is made but the caller cannot know (a lost answer).
	After bool
}

// Call is one request the fake served.
type Call struct {
	Service, Operation, Account, Region string
	DryRun                              bool
	Status                              int
	Fault                               string // the injected fault it answered, if any
	// Permissions are the IAM actions the fake takes the call to need
	// (none for sts:GetCallerIdentity); its denials name the first.
	Permissions []string
	// Params are the request's parameters, for the query protocols (EC2,
	// IAM, STS), as they came over the wire.
	Params url.Values
	// Facts are what the fake found in its state while serving the call
	// that the parameters do not show: "source encrypted" (CopySnapshot
	// of an encrypted snapshot).
	Facts []string
}

// Fake is the fake AWS. Its zero value is not usable: call New.
type Fake struct {
	mu       sync.Mutex
	accounts map[string]*Account
	keys     map[string]string // access key -> account
	orgRoot  string
	faults   []*Fault
	calls    []Call
	seq      int
	now      func() time.Time
	// Lag models EC2's eventual consistency ("Eventual consistency in the
	// Amazon EC2 API"): a resource made by one request is not found by
	// the Lag requests that follow it.
	Lag    int
	unseen map[string]int // resource id -> requests it stays unseen
	// PendingLooks is how many looks (DescribeSnapshots) a new snapshot
	// stays pending; 0 or 1: it is completed at the look after the first.
	PendingLooks int
	// DefaultAccount is the account of access keys the fake has not issued.
	DefaultAccount string
	// EnabledRegions are the regions DescribeRegions lists.
	EnabledRegions []string
	more           map[string]*More // more.go: state of the services of issue 19
	events         []TrailEvent     // cloudtrail.go: the event history LookupEvents reads
}

// New returns an empty fake whose unknown access keys belong to account.
func New(account string) *Fake {
	f := &Fake{accounts: map[string]*Account{}, keys: map[string]string{}, DefaultAccount: account, unseen: map[string]int{},
		EnabledRegions: []string{"us-east-1", "eu-west-1"}, now: func() time.Time { return time.Now().UTC() }}
	f.Account(account)
	return f
}

// SetClock fixes the fake's clock.
func (f *Fake) SetClock(now func() time.Time) { f.now = now }

// Account returns an account, creating it.
func (f *Fake) Account(id string) *Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accountLocked(id)
}

func (f *Fake) accountLocked(id string) *Account {
	a, ok := f.accounts[id]
	if !ok {
		a = &Account{ID: id, Name: "account-" + id, Regions: map[string]*Region{}, Users: map[string]*User{}, Keys: map[string]*AccessKey{},
			RolePolicies: map[string]map[string]string{}, Roles: map[string]bool{}, Buckets: map[string]*Bucket{}, KMSKeys: map[string]*KMSKey{}}
		f.accounts[id] = a
	}
	return a
}

// Region returns an account's region, creating it.
func (a *Account) Region(name string) *Region {
	r, ok := a.Regions[name]
	if !ok {
		r = &Region{VPCs: map[string]*VPC{}, Subnets: map[string]*Subnet{}, SecurityGroups: map[string]*SecurityGroup{},
			Instances: map[string]*Instance{}, Volumes: map[string]*Volume{}, Snapshots: map[string]*Snapshot{}, NetworkACLs: map[string]*NetworkACL{},
			Detectors: map[string]string{}}
		a.Regions[name] = r
	}
	return r
}

// Organization makes the accounts one organization managed from root, and
// gives each the role the provider assumes.
func (f *Fake) Organization(root string, role string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orgRoot = root
	for _, id := range append([]string{root}, members...) {
		f.accountLocked(id).Roles[role] = true
	}
}

// Inject adds a fault.
func (f *Fake) Inject(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := fault
	f.faults = append(f.faults, &fc)
}

// Calls returns the requests served so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Mutations counts successful requests that change state (not dry runs).
func (f *Fake) Mutations() []string {
	var out []string
	for _, c := range f.Calls() {
		if c.Status < 300 && !c.DryRun && !readOnly(c.Operation) {
			out = append(out, c.Service+":"+c.Operation)
		}
	}
	return out
}

func readOnly(op string) bool {
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return op == "AssumeRole"
}

// With runs fn with the fake locked, to set up or inspect state.
func (f *Fake) With(fn func(f *Fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// Get returns an account under the lock held by With.
func (f *Fake) Get(id string) *Account { return f.accountLocked(id) }

// Start serves the fake on a local port; the server closes with the test.
func (f *Fake) Start() *httptest.Server { return httptest.NewServer(f) }

var credRe = regexp.MustCompile(`Credential=([^/]+)/[0-9]+/([^/]+)/([^/]+)/aws4_request`)

// request is one parsed request.
type request struct {
	w        http.ResponseWriter
	r        *http.Request
	body     []byte
	service  string
	region   string
	account  *Account
	op       string
	dryRun   bool
	status   int
	fault    string
	after    *Fault
	perms    []string // permissions the call needs besides its own
	params   url.Values
	facts    []string
	acctID   string
	accessID string
}

// ServeHTTP routes a request to its service. The answer is made first and
// sent after, so that a fault with After can replace it.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := credRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		http.Error(w, "missing SigV4 Authorization header", http.StatusForbidden)
		return
	}
	rec := httptest.NewRecorder()
	req := &request{w: rec, r: r, body: body, accessID: m[1], region: m[2], service: m[3], status: 200}
	f.mu.Lock()
	for id, n := range f.unseen {
		if n <= 1 {
			delete(f.unseen, id)
		} else {
			f.unseen[id] = n - 1
		}
	}
	acct, ok := f.keys[req.accessID]
	if !ok {
		acct = f.DefaultAccount
	}
	req.acctID = acct
	req.account = f.accountLocked(acct)
	switch req.service {
	case "ec2":
		f.ec2(req)
	case "iam":
		f.iam(req)
	case "sts":
		f.sts(req)
	case "s3":
		f.s3(req)
	case "cloudtrail", "organizations", "kms":
		f.json11(req)
	case "guardduty":
		f.guardduty(req)
	case "ebs":
		f.ebs(req)
	case "inspector2", "logs", "events", "monitoring": // more.go
		f.moreService(req)
	default:
		http.Error(rec, "the fake does not serve "+req.service, http.StatusNotImplemented)
		req.status = 501
	}
	if ft := req.after; ft != nil {
		req.fault = ft.Kind
		rec = httptest.NewRecorder()
		req.w = rec
		if ft.Kind == "unavailable" {
			f.unavailable(req)
		}
	}
	f.calls = append(f.calls, Call{Service: req.service, Operation: req.op, Account: acct, Region: req.region, DryRun: req.dryRun,
		Status: req.status, Fault: req.fault, Permissions: permissions(req), Params: req.params, Facts: req.facts})
	f.mu.Unlock()
	if req.fault == "reset" {
		reset(w)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// reset closes the connection without an answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

// unavailable answers a 5xx that is not throttling, in the protocol of the
// request's service.
func (f *Fake) unavailable(req *request) {
	switch req.service {
	case "ec2":
		f.ec2Error(req, http.StatusServiceUnavailable, "Unavailable", "The server is overloaded and can't handle the request.")
	case "iam", "sts":
		queryError(req, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable.")
	default:
		jsonReply(req, http.StatusServiceUnavailable, map[string]string{"__type": "ServiceUnavailableException", "message": "Service is unavailable."})
	}
}

// fault returns the injected fault that hits this request, if any; one
// with After is kept for ServeHTTP, and the request is served.
func (f *Fake) fault(req *request) string {
	for _, ft := range f.faults {
		if ft.Times == 0 || (ft.Service != "" && ft.Service != req.service) || (ft.Operation != "" && ft.Operation != req.op) {
			continue
		}
		if ft.Times > 0 {
			ft.Times--
		}
		if ft.After {
			req.after = ft
			return ""
		}
		req.fault = ft.Kind
		return ft.Kind
	}
	return ""
}

// made records a new resource, unseen for Lag requests.
func (f *Fake) made(id string) {
	if f.Lag > 0 {
		f.unseen[id] = f.Lag + 1
	}
}

// seen reports whether a resource is visible to the request yet.
func (f *Fake) seen(id string) bool { return f.unseen[id] == 0 }

// id makes a resource id: a prefix and 17 hex digits, unique in the fake.
func (f *Fake) id(prefix string) string {
	f.seq++
	h := sha256.Sum256([]byte(fmt.Sprint(prefix, f.seq)))
	return prefix + "-0" + hex.EncodeToString(h[:])[:16]
}

func requestID(req *request) string {
	h := sha256.Sum256(append([]byte(req.op), req.body...))
	return hex.EncodeToString(h[:16])
}

func copyTags(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Env is the environment that points the AWS SDK (and so vigil) at a fake
// or emulator at endpoint, with static credentials and nothing read from
// the machine's own AWS configuration or instance metadata.
func Env(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=AKIDVIGILTEST",
		"AWS_SECRET_ACCESS_KEY=vigil-test-secret",
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=eu-west-1",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + "/nonexistent/vigil-test-aws-config",
		"AWS_SHARED_CREDENTIALS_FILE=" + "/nonexistent/vigil-test-aws-credentials",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
