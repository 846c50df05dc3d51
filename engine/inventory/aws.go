package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/limits"
)

// awsKinds maps AWS resource types (AWS Config / CloudFormation names) to kinds.
var awsKinds = map[string]string{
	"AWS::EC2::VPC":                             asset.KindNetwork,
	"AWS::EC2::Subnet":                          asset.KindSubnet,
	"AWS::EC2::SecurityGroup":                   asset.KindFirewall,
	"AWS::EC2::Instance":                        asset.KindInstance,
	"AWS::EC2::Volume":                          asset.KindDisk,
	"AWS::EC2::Snapshot":                        asset.KindSnapshot,
	"AWS::EC2::Image":                           asset.KindImage,
	"AWS::EC2::NetworkInterface":                asset.KindNetworkInterface,
	"AWS::EC2::VPNConnection":                   asset.KindVPNTunnel,
	"AWS::EC2::VPCPeeringConnection":            asset.KindPeering,
	"AWS::EC2::TransitGateway":                  asset.KindTransitGateway,
	"AWS::EC2::TransitGatewayAttachment":        asset.KindTransitGateway,
	"AWS::DirectConnect::Connection":            asset.KindInterconnect,
	"AWS::S3::Bucket":                           asset.KindBucket,
	"AWS::S3::AccountPublicAccessBlock":         "public_access_block",
	"AWS::IAM::User":                            asset.KindUser,
	"AWS::IAM::Role":                            asset.KindRole,
	"AWS::IAM::Policy":                          asset.KindIAMPolicy,
	"AWS::IAM::AccessKey":                       asset.KindAccessKey,
	"AWS::CloudTrail::Trail":                    asset.KindTrail,
	"AWS::GuardDuty::Detector":                  asset.KindDetector,
	"AWS::RDS::DBInstance":                      asset.KindDatabase,
	"AWS::EKS::Cluster":                         asset.KindCluster,
	"AWS::KMS::Key":                             asset.KindKey,
	"AWS::::Account":                            asset.KindAccount,
	"AWS::Organizations::Account":               asset.KindAccount,
	"AWS::Logs::LogGroup":                       asset.KindLogSink,
	"AWS::SecurityHub::Hub":                     asset.KindDetector,
	"AWS::EC2::EIP":                             "address",
	"AWS::ElasticLoadBalancingV2::LoadBalancer": "load_balancer",
	"AWS::EC2::NetworkAcl":                      asset.KindNetworkACL,
	"AWS::EC2::FlowLog":                         asset.KindFlowLog,
	"AWS::CloudWatch::Alarm":                    asset.KindAlarm,
	"AWS::Logs::MetricFilter":                   asset.KindMetricFilter,
	"AWS::Events::Rule":                         asset.KindEventRule,
	// Not AWS Config types: what vigil's collector reads from Inspector.
	"AWS::Inspector2::Findings":      asset.KindVulnerabilityReport,
	"AWS::Inspector2::AccountStatus": asset.KindDetector,
}

// AWSKind returns the normalized kind of an AWS resource type.
func AWSKind(resourceType string) string {
	if k, ok := awsKinds[resourceType]; ok {
		return k
	}
	return asset.KindOther
}

// ConfigItem is an AWS Config configuration item. Both the 1.2 schema
// (accountId, arn) and the 1.3 schema (awsAccountId, ARN) decode into it
// (encoding/json matches keys without regard to case). The live AWS
// collector produces the same shape, so one normalizer serves both.
type ConfigItem struct {
	ARN                        string                     `json:"arn"`
	AccountID                  string                     `json:"accountId"`
	AWSAccountID               string                     `json:"awsAccountId"`
	ResourceType               string                     `json:"resourceType"`
	ResourceID                 string                     `json:"resourceId"`
	ResourceName               string                     `json:"resourceName"`
	AWSRegion                  string                     `json:"awsRegion"`
	AvailabilityZone           string                     `json:"availabilityZone"`
	Status                     string                     `json:"configurationItemStatus"`
	CaptureTime                json.RawMessage            `json:"configurationItemCaptureTime"`
	Tags                       json.RawMessage            `json:"tags"`
	Configuration              json.RawMessage            `json:"configuration"`
	SupplementaryConfiguration map[string]json.RawMessage `json:"supplementaryConfiguration"`
}

// Account returns the account id.
func (ci *ConfigItem) Account() string { return firstNonEmpty(ci.AccountID, ci.AWSAccountID) }

// deleted reports items that describe a resource that no longer exists.
func (ci *ConfigItem) deleted() bool {
	return strings.HasPrefix(ci.Status, "ResourceDeleted") || ci.Status == "ResourceNotRecorded"
}

// captureKey orders items of one resource: capture times are ISO strings or
// epoch seconds (get-resource-config-history).
func (ci *ConfigItem) captureKey() string {
	s := strings.Trim(string(ci.CaptureTime), `"`)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Sprintf("%020.6f", f)
	}
	return s
}

// configItemJSON decodes an item with its configuration straight into the
// struct of its kind (the outer Configuration shadows the embedded one).
type configItemJSON struct {
	ConfigItem
	Configuration any `json:"configuration"`
}

// decodeConfigItem parses and normalizes one configuration item, in one
// pass when its configuration is an object.
func decodeConfigItem(raw []byte, source string) (*asset.Asset, *ConfigItem, error) {
	if t := memberString(raw, "resourceType"); t != "" {
		data := newAWSData(AWSKind(t))
		ci := configItemJSON{Configuration: data}
		if err := decodeJSON(raw, &ci); err == nil && ci.ResourceType == t {
			a, err := normalizeAWS(&ci.ConfigItem, data, source)
			if err != nil {
				return nil, nil, err
			}
			a.Data = raw
			return a, &ci.ConfigItem, nil
		}
	}
	// The general path: configuration as a JSON string, or anything odd.
	var ci ConfigItem
	if err := json.Unmarshal(raw, &ci); err != nil {
		return nil, nil, jsonError(err)
	}
	if ci.ResourceType == "" {
		return nil, nil, errors.New("not an AWS Config configuration item: it has no resourceType")
	}
	// configuration may be given as an object or as a JSON string.
	if cfg := bytes.TrimSpace(ci.Configuration); len(cfg) > 0 && cfg[0] == '"' {
		var s string
		if err := json.Unmarshal(cfg, &s); err != nil {
			return nil, nil, jsonError(err)
		}
		if le := limits.JSON([]byte(s)); le != nil {
			return nil, nil, fmt.Errorf("%s %s: configuration (a JSON string): %s", ci.ResourceType, ci.ResourceID, le.Msg)
		}
		if !json.Valid([]byte(s)) {
			return nil, nil, fmt.Errorf("%s %s: configuration is a string that is not JSON", ci.ResourceType, ci.ResourceID)
		}
		ci.Configuration = json.RawMessage(s)
		raw = spliceField(deleteField(raw, "configuration"), "configuration", ci.Configuration)
	}
	a, err := NormalizeAWS(&ci, source)
	if err != nil {
		return nil, nil, err
	}
	a.Data = raw
	return a, &ci, nil
}

// awsData is an item's configuration decoded into the struct of its kind.
type awsData interface {
	apply(a *asset.Asset, ci *ConfigItem, labels map[string]string) (map[string]string, error)
}

// awsOther keeps the tags of kinds no policy models.
type awsOther struct {
	Tags tagList `json:"tags"`
}

func (o *awsOther) apply(_ *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	return mergeTags(l, o.Tags), nil
}

func newAWSData(kind string) awsData {
	switch kind {
	case asset.KindFirewall:
		return &awsSecurityGroup{}
	case asset.KindNetwork:
		return &awsVPC{}
	case asset.KindSubnet:
		return &awsSubnet{}
	case asset.KindInstance:
		return &awsInstance{}
	case asset.KindDisk:
		return &awsVolume{}
	case asset.KindBucket:
		return &awsBucket{}
	case asset.KindTrail:
		return &awsTrail{}
	case asset.KindDetector:
		return &awsDetector{}
	case asset.KindAccessKey:
		return &awsAccessKey{}
	case "public_access_block":
		return &awsPublicAccessBlock{}
	case asset.KindNetworkACL:
		return &awsNetworkACL{}
	case asset.KindFlowLog:
		return &awsFlowLog{}
	case asset.KindAlarm:
		return &awsAlarm{}
	case asset.KindMetricFilter:
		return &awsMetricFilter{}
	case asset.KindEventRule:
		return &awsEventRule{}
	case asset.KindRole:
		return &awsRole{}
	case asset.KindUser:
		return &awsUser{}
	case asset.KindAccount:
		return &awsAccount{}
	case asset.KindVulnerabilityReport:
		return &awsInspectorFindings{}
	}
	return &awsOther{}
}

// NormalizeAWS builds an asset from a configuration item (the live AWS
// collector produces items of the same shape).
func NormalizeAWS(ci *ConfigItem, source string) (*asset.Asset, error) {
	data := newAWSData(AWSKind(ci.ResourceType))
	if err := unmarshalData(ci.Configuration, data); err != nil {
		return nil, fmt.Errorf("%s %s: %w", ci.ResourceType, ci.ResourceID, err)
	}
	return normalizeAWS(ci, data, source)
}

func normalizeAWS(ci *ConfigItem, data awsData, source string) (*asset.Asset, error) {
	a := &asset.Asset{
		ID:       ci.ARN,
		Provider: asset.AWS,
		Type:     ci.ResourceType,
		Kind:     AWSKind(ci.ResourceType),
		Scope:    ci.Account(),
		Region:   asset.Region(ci.AWSRegion),
		Source:   source,
	}
	if a.ID == "" {
		a.ID = fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", awsService(ci.ResourceType), ci.AWSRegion, ci.Account(), ci.ResourceType, ci.ResourceID)
	}
	if a.Kind == asset.KindAccount {
		a.ID = asset.AccountID(ci.Account())
	}
	labels, err := awsTags(ci.Tags)
	if err != nil {
		return nil, fmt.Errorf("%s %s: tags: %w", ci.ResourceType, ci.ResourceID, err)
	}
	if labels, err = data.apply(a, ci, labels); err != nil {
		return nil, fmt.Errorf("%s %s: %w", ci.ResourceType, ci.ResourceID, err)
	}
	if len(labels) > 0 {
		a.Labels = labels
	}
	if a.Name == "" {
		a.Name = firstNonEmpty(ci.ResourceName, labels["Name"], ci.ResourceID)
	}
	return a, nil
}

func (sg *awsSecurityGroup) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Name = sg.GroupName
	return mergeTags(l, sg.Tags), sg.facets(&a.Facets)
}

func (v *awsVPC) apply(a *asset.Asset, ci *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.Network = firstNonEmpty(v.VpcID, ci.ResourceID)
	a.Facets.Default = asset.Bool(v.IsDefault)
	if v.CidrBlock != "" {
		a.Facets.CIDRs = []string{v.CidrBlock}
	}
	return mergeTags(l, v.Tags), nil
}

func (sn *awsSubnet) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.Network = sn.VpcID
	if sn.CidrBlock != "" {
		a.Facets.CIDRs = []string{sn.CidrBlock}
	}
	return mergeTags(l, sn.Tags), nil
}

func (in *awsInstance) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	in.facets(&a.Facets)
	if a.Region == "global" && in.Placement.AvailabilityZone != "" {
		a.Region = asset.Region(in.Placement.AvailabilityZone)
	}
	return mergeTags(l, in.Tags), nil
}

func (v *awsVolume) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.Status = strings.ToLower(v.State)
	a.Facets.Zone = v.AvailabilityZone
	return mergeTags(l, v.Tags), nil
}

// awsBucket reads nothing from configuration: what matters is in
// supplementaryConfiguration.
type awsBucket struct{}

func (*awsBucket) apply(a *asset.Asset, ci *ConfigItem, l map[string]string) (map[string]string, error) {
	return l, awsBucketFacets(ci, &a.Facets)
}

func (t *awsTrail) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.Validation = asset.Bool(t.LogFileValidationEnabled)
	a.Facets.LogGroup = logGroupName(t.CloudWatchLogsLogGroupArn)
	a.Facets.MultiRegion = asset.Bool(t.IsMultiRegionTrail)
	a.Facets.Organization = asset.Bool(t.IsOrganizationTrail)
	a.Facets.Logging = t.IsLogging
	a.Facets.ManagementEvents = t.managementEvents()
	a.Name = firstNonEmpty(t.Name, t.TrailName)
	return l, nil
}

func (d *awsDetector) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	if d.EC2 != "" { // Inspector: what matters is EC2 scanning
		a.Facets.Enabled = asset.Bool(strings.EqualFold(d.EC2, "ENABLED"))
		return l, nil
	}
	a.Facets.Enabled = asset.Bool(d.enabled())
	return l, nil
}

func (k *awsAccessKey) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.User = k.UserName
	a.Facets.Status = strings.ToLower(k.Status)
	a.Facets.Enabled = asset.Bool(strings.EqualFold(k.Status, "Active"))
	a.Facets.CreatedAt = k.CreateDate
	a.Facets.LastUsed = k.LastUsedDate
	return l, nil
}

func (p *awsPublicAccessBlock) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.PublicAccessBlock = p.facet()
	return l, nil
}

func awsService(resourceType string) string {
	parts := strings.Split(resourceType, "::")
	if len(parts) >= 2 {
		return strings.ToLower(parts[1])
	}
	return "unknown"
}

// awsTags reads tags given as a map or as a list of {key, value} (any case).
func awsTags(raw json.RawMessage) (map[string]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, jsonError(err)
		}
		return m, nil
	}
	var list tagList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, jsonError(err)
	}
	return mergeTags(nil, list), nil
}

// tagList is the [{Key, Value}] form of tags ({key, value} and
// {tagName, tagValue} decode into it too).
type tagList []struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	TagName  string `json:"tagName"`
	TagValue string `json:"tagValue"`
}

func mergeTags(m map[string]string, list tagList) map[string]string {
	for _, t := range list {
		k := firstNonEmpty(t.Key, t.TagName)
		if k == "" {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = firstNonEmpty(t.Value, t.TagValue)
	}
	return m
}

type awsSecurityGroup struct {
	GroupID             string          `json:"groupId"`
	GroupName           string          `json:"groupName"`
	VpcID               string          `json:"vpcId"`
	IPPermissions       []awsPermission `json:"ipPermissions"`
	IPPermissionsEgress []awsPermission `json:"ipPermissionsEgress"`
	Tags                tagList         `json:"tags"`
}

// awsPermission is one EC2 IpPermission. ipRanges is a list of strings in
// older Config items and of {cidrIp} objects in newer ones and in the API.
type awsPermission struct {
	IPProtocol       string            `json:"ipProtocol"`
	FromPort         *int              `json:"fromPort"`
	ToPort           *int              `json:"toPort"`
	IPRanges         []json.RawMessage `json:"ipRanges"`
	IPv4Ranges       []awsRange        `json:"ipv4Ranges"`
	IPv6Ranges       []awsRange        `json:"ipv6Ranges"`
	UserIDGroupPairs []struct {
		GroupID string `json:"groupId"`
	} `json:"userIdGroupPairs"`
	PrefixListIDs []struct {
		PrefixListID string `json:"prefixListId"`
	} `json:"prefixListIds"`
}

type awsRange struct {
	CidrIP   string `json:"cidrIp"`
	CidrIPv6 string `json:"cidrIpv6"`
}

func (sg *awsSecurityGroup) facets(f *asset.Facets) error {
	f.Network = sg.VpcID
	for _, p := range sg.IPPermissions {
		r, err := p.rule()
		if err != nil {
			return err
		}
		f.Ingress = append(f.Ingress, r)
	}
	for _, p := range sg.IPPermissionsEgress {
		r, err := p.rule()
		if err != nil {
			return err
		}
		f.Egress = append(f.Egress, r)
	}
	return nil
}

func (p *awsPermission) rule() (asset.Rule, error) {
	r := asset.Rule{Protocol: asset.Protocol(p.IPProtocol), Action: "allow", Enabled: true, Sources: []string{}}
	for _, raw := range p.IPRanges {
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return r, jsonError(err)
			}
			r.Sources = append(r.Sources, s)
			continue
		}
		var ar awsRange
		if err := json.Unmarshal(raw, &ar); err != nil {
			return r, jsonError(err)
		}
		r.Sources = append(r.Sources, firstNonEmpty(ar.CidrIP, ar.CidrIPv6))
	}
	for _, ar := range p.IPv4Ranges {
		r.Sources = appendUnique(r.Sources, ar.CidrIP)
	}
	for _, ar := range p.IPv6Ranges {
		r.Sources = appendUnique(r.Sources, ar.CidrIPv6)
	}
	for _, g := range p.UserIDGroupPairs {
		r.SourceGroups = append(r.SourceGroups, g.GroupID)
	}
	for _, pl := range p.PrefixListIDs {
		r.SourceGroups = append(r.SourceGroups, pl.PrefixListID)
	}
	r.Ports = AWSPorts(r.Protocol, p.FromPort, p.ToPort)
	return r, nil
}

// AWSPorts converts an EC2 from/to port pair. Protocol -1 means all ports; for
// ICMP the numbers are type and code, not ports.
func AWSPorts(protocol string, from, to *int) []asset.PortRange {
	if !asset.CarriesPorts(protocol) {
		return []asset.PortRange{}
	}
	if protocol == "all" || from == nil || to == nil || (*from == -1 && *to == -1) {
		return asset.AllPorts
	}
	lo, hi := *from, *to
	if lo < 0 {
		lo = 0
	}
	if hi < 0 || hi > 65535 {
		hi = 65535
	}
	return []asset.PortRange{{From: lo, To: hi}}
}

type awsVPC struct {
	VpcID     string  `json:"vpcId"`
	CidrBlock string  `json:"cidrBlock"`
	IsDefault bool    `json:"isDefault"`
	Tags      tagList `json:"tags"`
}

type awsSubnet struct {
	VpcID     string  `json:"vpcId"`
	CidrBlock string  `json:"cidrBlock"`
	Tags      tagList `json:"tags"`
}

type awsInstance struct {
	State struct {
		Name string `json:"name"`
	} `json:"state"`
	VpcID            string `json:"vpcId"`
	SubnetID         string `json:"subnetId"`
	PublicIPAddress  string `json:"publicIpAddress"`
	PrivateIPAddress string `json:"privateIpAddress"`
	Placement        struct {
		AvailabilityZone string `json:"availabilityZone"`
	} `json:"placement"`
	SecurityGroups []struct {
		GroupID string `json:"groupId"`
	} `json:"securityGroups"`
	NetworkInterfaces []struct {
		VpcID       string `json:"vpcId"`
		SubnetID    string `json:"subnetId"`
		Association *struct {
			PublicIP string `json:"publicIp"`
		} `json:"association"`
		PrivateIPAddresses []struct {
			Association *struct {
				PublicIP string `json:"publicIp"`
			} `json:"association"`
		} `json:"privateIpAddresses"`
		IPv6Addresses []struct {
			IPv6Address string `json:"ipv6Address"`
		} `json:"ipv6Addresses"`
		Groups []struct {
			GroupID string `json:"groupId"`
		} `json:"groups"`
	} `json:"networkInterfaces"`
	BlockDeviceMappings []struct {
		EBS struct {
			VolumeID string `json:"volumeId"`
		} `json:"ebs"`
	} `json:"blockDeviceMappings"`
	IAMInstanceProfile *struct {
		ARN string `json:"arn"`
	} `json:"iamInstanceProfile"`
	Tags tagList `json:"tags"`
}

func (in *awsInstance) facets(f *asset.Facets) {
	if in.VpcID != "" {
		f.Networks = appendUnique(f.Networks, in.VpcID)
	}
	if in.SubnetID != "" {
		f.Subnets = appendUnique(f.Subnets, in.SubnetID)
	}
	if in.PublicIPAddress != "" {
		f.PublicIPs = appendUnique(f.PublicIPs, in.PublicIPAddress)
	}
	if in.PrivateIPAddress != "" {
		f.PrivateIPs = appendUnique(f.PrivateIPs, in.PrivateIPAddress)
	}
	for _, g := range in.SecurityGroups {
		f.SecurityGroups = appendUnique(f.SecurityGroups, g.GroupID)
	}
	for _, ni := range in.NetworkInterfaces {
		if ni.VpcID != "" {
			f.Networks = appendUnique(f.Networks, ni.VpcID)
		}
		if ni.SubnetID != "" {
			f.Subnets = appendUnique(f.Subnets, ni.SubnetID)
		}
		if ni.Association != nil && ni.Association.PublicIP != "" {
			f.PublicIPs = appendUnique(f.PublicIPs, ni.Association.PublicIP)
		}
		for _, pa := range ni.PrivateIPAddresses {
			if pa.Association != nil && pa.Association.PublicIP != "" {
				f.PublicIPs = appendUnique(f.PublicIPs, pa.Association.PublicIP)
			}
		}
		// An EC2 IPv6 address is globally unique and routable: whether the
		// internet reaches it is up to the security groups and ACLs, as
		// for a public IPv4 address (GCP's external IPv6 is read alike).
		for _, v6 := range ni.IPv6Addresses {
			if v6.IPv6Address != "" {
				f.PublicIPs = appendUnique(f.PublicIPs, v6.IPv6Address)
			}
		}
		for _, g := range ni.Groups {
			f.SecurityGroups = appendUnique(f.SecurityGroups, g.GroupID)
		}
	}
	for _, bd := range in.BlockDeviceMappings {
		if bd.EBS.VolumeID != "" {
			f.Disks = append(f.Disks, bd.EBS.VolumeID)
		}
	}
	if in.IAMInstanceProfile != nil && in.IAMInstanceProfile.ARN != "" {
		f.ServiceAccounts = []string{in.IAMInstanceProfile.ARN}
	}
	f.Zone = in.Placement.AvailabilityZone
	f.Status = strings.ToLower(in.State.Name)
}

type awsVolume struct {
	State            string  `json:"state"`
	AvailabilityZone string  `json:"availabilityZone"`
	Tags             tagList `json:"tags"`
}

type awsTrail struct {
	LogFileValidationEnabled  bool   `json:"logFileValidationEnabled"`
	CloudWatchLogsLogGroupArn string `json:"cloudWatchLogsLogGroupArn"`
	Name                      string `json:"name"`
	TrailName                 string `json:"trailName"`
	IsMultiRegionTrail        bool   `json:"isMultiRegionTrail"`
	IsOrganizationTrail       bool   `json:"isOrganizationTrail"`
	IsLogging                 *bool  `json:"isLogging"`
	// GetEventSelectors' answer, which AWS Config and vigil's collector
	// keep with the trail: basic or advanced selectors.
	EventSelectors []struct {
		ReadWriteType           string `json:"readWriteType"`
		IncludeManagementEvents *bool  `json:"includeManagementEvents"`
	} `json:"eventSelectors"`
	AdvancedEventSelectors []struct {
		FieldSelectors []struct {
			Field     string   `json:"field"`
			Equals    []string `json:"equals"`
			NotEquals []string `json:"notEquals"`
		} `json:"fieldSelectors"`
	} `json:"advancedEventSelectors"`
}

// managementEvents says which management events the selectors record
// ("" when the trail carries none: then it records them all).
func (t *awsTrail) managementEvents() string {
	if t.EventSelectors == nil && t.AdvancedEventSelectors == nil {
		return ""
	}
	read, write := false, false
	for _, s := range t.EventSelectors {
		if s.IncludeManagementEvents != nil && !*s.IncludeManagementEvents {
			continue // the default is true
		}
		switch strings.ToLower(s.ReadWriteType) {
		case "readonly":
			read = true
		case "writeonly":
			write = true
		default: // All, or not set
			read, write = true, true
		}
	}
	for _, a := range t.AdvancedEventSelectors {
		mgmt, r, w := false, true, true
		for _, f := range a.FieldSelectors {
			switch f.Field {
			case "eventCategory":
				mgmt = slices.Contains(f.Equals, "Management")
			case "readOnly":
				if slices.Contains(f.Equals, "true") || slices.Contains(f.NotEquals, "false") {
					w = false
				}
				if slices.Contains(f.Equals, "false") || slices.Contains(f.NotEquals, "true") {
					r = false
				}
			}
		}
		if mgmt {
			read, write = read || r, write || w
		}
	}
	switch {
	case read && write:
		return "All"
	case read:
		return "ReadOnly"
	case write:
		return "WriteOnly"
	}
	return "none"
}

// awsDetector accepts the GuardDuty API shape (Status) and the
// CloudFormation shape AWS Config records (Enable).
type awsDetector struct {
	EC2    string `json:"ec2"` // Inspector's EC2 scanning status
	Status string `json:"status"`
	Enable *bool  `json:"enable"`
}

func (d *awsDetector) enabled() bool {
	if d.Enable != nil {
		return *d.Enable
	}
	return strings.EqualFold(d.Status, "ENABLED")
}

type awsAccessKey struct {
	UserName     string `json:"userName"`
	Status       string `json:"status"`
	CreateDate   string `json:"createDate"`
	LastUsedDate string `json:"lastUsedDate"`
}

type awsPublicAccessBlock struct {
	BlockPublicACLs       bool `json:"blockPublicAcls"`
	IgnorePublicACLs      bool `json:"ignorePublicAcls"`
	BlockPublicPolicy     bool `json:"blockPublicPolicy"`
	RestrictPublicBuckets bool `json:"restrictPublicBuckets"`
}

func (p awsPublicAccessBlock) facet() *asset.PublicAccessBlock {
	return &asset.PublicAccessBlock{
		BlockPublicACLs: p.BlockPublicACLs, IgnorePublicACLs: p.IgnorePublicACLs,
		BlockPublicPolicy: p.BlockPublicPolicy, RestrictPublicBuckets: p.RestrictPublicBuckets,
	}
}

// awsBucketFacets decides whether an S3 bucket is public from its ACL, its
// policy and its own public access block, as AWS Config records them in
// supplementaryConfiguration (values may be JSON strings).
func awsBucketFacets(ci *ConfigItem, f *asset.Facets) error {
	sup := ci.SupplementaryConfiguration
	var pab *asset.PublicAccessBlock
	if raw, ok := sup["PublicAccessBlockConfiguration"]; ok {
		var p awsPublicAccessBlock
		if err := unmarshalMaybeString(raw, &p); err != nil {
			return fmt.Errorf("PublicAccessBlockConfiguration: %w", err)
		}
		pab = p.facet()
		f.PublicAccessBlock = pab
	}
	var via []asset.Exposure
	if raw, ok := sup["AccessControlList"]; ok {
		var acl struct {
			GrantList []struct {
				Grantee    json.RawMessage `json:"grantee"`
				Permission string          `json:"permission"`
			} `json:"grantList"`
		}
		if err := unmarshalMaybeString(raw, &acl); err != nil {
			return fmt.Errorf("AccessControlList: %w", err)
		}
		for _, g := range acl.GrantList {
			if who := publicGrantee(g.Grantee); who != "" && (pab == nil || !pab.IgnorePublicACLs) {
				via = append(via, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("ACL grants %s to %s", g.Permission, who)})
			}
		}
	}
	if raw, ok := sup["BucketPolicy"]; ok {
		var bp struct {
			PolicyText *string `json:"policyText"`
		}
		if err := unmarshalMaybeString(raw, &bp); err != nil {
			return fmt.Errorf("BucketPolicy: %w", err)
		}
		if bp.PolicyText != nil && *bp.PolicyText != "" {
			public, err := PolicyIsPublic([]byte(*bp.PolicyText))
			if err != nil {
				return fmt.Errorf("BucketPolicy: %w", err)
			}
			if public && (pab == nil || !pab.RestrictPublicBuckets) {
				via = append(via, asset.Exposure{Via: "policy", Detail: `bucket policy allows Principal "*"`})
			}
		}
	}
	f.Public = asset.Bool(len(via) > 0)
	f.PublicVia = via
	return nil
}

func unmarshalMaybeString(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return jsonError(err)
		}
		raw = []byte(s)
	}
	return unmarshalData(raw, v)
}

// publicGrantee names an ACL grantee that means everyone, or returns "".
func publicGrantee(raw json.RawMessage) string {
	s := string(raw)
	switch {
	case strings.Contains(s, "AllUsers"):
		return "AllUsers"
	case strings.Contains(s, "AuthenticatedUsers"):
		return "AuthenticatedUsers"
	}
	return ""
}

// restrictingConditions are condition keys that limit a policy with
// Principal "*" to known callers, so that it does not make a bucket public.
var restrictingConditions = []string{
	"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount", "aws:sourcearn",
	"aws:sourceowner", "aws:principalorgid", "aws:principalaccount", "aws:principalarn",
	"aws:userid", "aws:username", "aws:principalorgpaths", "aws:sourceorgid",
}

// PolicyIsPublic reports whether an IAM resource policy has an Allow
// statement for Principal "*" that no condition restricts.
func PolicyIsPublic(doc []byte) (bool, error) {
	var p struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return false, jsonError(err)
	}
	var stmts []map[string]json.RawMessage
	st := bytes.TrimSpace(p.Statement)
	if len(st) > 0 && st[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(st, &one); err != nil {
			return false, jsonError(err)
		}
		stmts = append(stmts, one)
	} else if len(st) > 0 {
		if err := json.Unmarshal(st, &stmts); err != nil {
			return false, jsonError(err)
		}
	}
	for _, s := range stmts {
		var effect string
		_ = json.Unmarshal(s["Effect"], &effect)
		// An Allow with NotPrincipal grants every principal it does not
		// name, the anonymous one included.
		_, notPrincipal := s["NotPrincipal"]
		if !strings.EqualFold(effect, "Allow") || !notPrincipal && !principalIsEveryone(s["Principal"]) {
			continue
		}
		cond := strings.ToLower(string(s["Condition"]))
		restricted := false
		for _, k := range restrictingConditions {
			if strings.Contains(cond, `"`+k+`"`) {
				restricted = true
				break
			}
		}
		if !restricted {
			return true, nil
		}
	}
	return false, nil
}

func principalIsEveryone(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	aws := m["AWS"]
	if json.Unmarshal(aws, &s) == nil {
		return s == "*"
	}
	var list []string
	if json.Unmarshal(aws, &list) == nil {
		for _, x := range list {
			if x == "*" {
				return true
			}
		}
	}
	return false
}

// deleteField removes a top-level key from a JSON object by re-encoding its
// members; used only on the rare string-encoded configuration.
func deleteField(obj []byte, key string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return obj
	}
	delete(m, key)
	out, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return out
}
