package inventory

// tfDefault is what an attribute the built-in policies read becomes when
// the configuration leaves it unset. Many are Optional+Computed: the plan
// shows them "known after apply" on every new resource, although the
// provider computes them from nothing the configuration asks for. vigil
// judges such an attribute by its documented default, and treats it as
// unknown only when the configuration sets it (see unknownMatters).
type tfDefault struct {
	Type, Attr string
	// Value is the default: a bool, a string, or nil where the default is
	// "none" (no rules, no policy, no grants).
	Value any
	// Means says what the default amounts to, for the judged facet.
	Means string
	// Source is the documentation the entry is taken from.
	Source string
}

const (
	awsDocs    = "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/"
	googleDocs = "https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/"
)

// tfDefaults covers every attribute a built-in policy reads through the
// Terraform plan mapping (tfmap.go).
var tfDefaults = []tfDefault{
	// S3: VGL-DATA-002
	{"aws_s3_bucket", "acl", "private", "the bucket is private",
		awsDocs + "s3_bucket#acl (\"Defaults to private\"; AWS provider v4+ computes it, see also https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html: new buckets have ACLs disabled)"},
	{"aws_s3_bucket", "grant", nil, "no grants beyond the owner's",
		awsDocs + "s3_bucket#grant (conflicts with acl; unset, the owner has FULL_CONTROL only)"},
	{"aws_s3_bucket", "policy", nil, "no bucket policy",
		awsDocs + "s3_bucket#policy (v4+: computed; managed by aws_s3_bucket_policy)"},
	{"aws_s3_bucket_acl", "access_control_policy", nil, "the grants of the canned acl",
		awsDocs + "s3_bucket_acl#access_control_policy (conflicts with acl; computed from it)"},
	{"aws_s3_bucket_acl", "acl", nil, "the grants of access_control_policy",
		awsDocs + "s3_bucket_acl#acl"},
	{"aws_s3_bucket_policy", "policy", nil, "required: always set", awsDocs + "s3_bucket_policy#policy"},
	{"aws_s3_bucket_public_access_block", "block_public_acls", false, "not blocked",
		awsDocs + "s3_bucket_public_access_block#block_public_acls (\"Defaults to false\")"},
	{"aws_s3_bucket_public_access_block", "ignore_public_acls", false, "not ignored",
		awsDocs + "s3_bucket_public_access_block#ignore_public_acls (\"Defaults to false\")"},
	{"aws_s3_bucket_public_access_block", "block_public_policy", false, "not blocked",
		awsDocs + "s3_bucket_public_access_block#block_public_policy (\"Defaults to false\")"},
	{"aws_s3_bucket_public_access_block", "restrict_public_buckets", false, "not restricted",
		awsDocs + "s3_bucket_public_access_block#restrict_public_buckets (\"Defaults to false\")"},

	// Security groups: VGL-NET-001
	{"aws_security_group", "ingress", nil, "no in-line ingress rules",
		awsDocs + "security_group#ingress (attributes-as-blocks; a new group has no inbound rules: https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html)"},
	{"aws_security_group", "egress", nil, "no in-line egress rules",
		awsDocs + "security_group (\"Terraform will remove this default rule\": the ALLOW ALL egress AWS creates)"},
	{"aws_default_security_group", "ingress", nil, "no ingress rules",
		awsDocs + "default_security_group (\"When Terraform first adopts the default security group, it immediately removes all ingress and egress rules\")"},
	{"aws_default_security_group", "egress", nil, "no egress rules",
		awsDocs + "default_security_group"},
	{"aws_security_group_rule", "cidr_blocks", nil, "no IPv4 sources", awsDocs + "security_group_rule#cidr_blocks"},
	{"aws_security_group_rule", "ipv6_cidr_blocks", nil, "no IPv6 sources", awsDocs + "security_group_rule#ipv6_cidr_blocks"},
	{"aws_vpc_security_group_ingress_rule", "cidr_ipv4", nil, "no IPv4 source", awsDocs + "vpc_security_group_ingress_rule#cidr_ipv4"},
	{"aws_vpc_security_group_ingress_rule", "cidr_ipv6", nil, "no IPv6 source", awsDocs + "vpc_security_group_ingress_rule#cidr_ipv6"},

	// Instances: VGL-NET-004
	{"aws_instance", "associate_public_ip_address", nil, "the subnet's map_public_ip_on_launch decides",
		awsDocs + "instance#associate_public_ip_address"},
	{"aws_instance", "subnet_id", true, "the default subnet of the default VPC, which maps public IPs on launch",
		"https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc.html (\"each default subnet ... instances get a public IPv4 address\")"},
	{"aws_subnet", "map_public_ip_on_launch", false, "no public IP on launch",
		awsDocs + "subnet#map_public_ip_on_launch (\"Default is false\")"},
	{"google_compute_instance", "network_interface.access_config.nat_ip", nil, "an ephemeral external IP",
		googleDocs + "compute_instance#nat_ip (\"If not given, one will be generated\")"},

	// Logging and detection: VGL-LOG-001, VGL-DET-001
	{"aws_cloudtrail", "enable_logging", true, "logging", awsDocs + "cloudtrail#enable_logging (\"Defaults to true\")"},
	{"aws_cloudtrail", "is_multi_region_trail", false, "one region", awsDocs + "cloudtrail#is_multi_region_trail (\"Defaults to false\")"},
	{"aws_guardduty_detector", "enable", true, "enabled", awsDocs + "guardduty_detector#enable (\"Defaults to true\")"},

	// Networks: VGL-NET-002, VGL-NET-003
	{"google_compute_network", "auto_create_subnetworks", true, "an auto-mode network",
		googleDocs + "compute_network#auto_create_subnetworks (\"Defaults to true\")"},

	// Google firewalls: VGL-NET-001
	{"google_compute_firewall", "direction", "INGRESS", "an ingress rule", googleDocs + "compute_firewall#direction (\"If unspecified, defaults to INGRESS\")"},
	{"google_compute_firewall", "priority", 1000.0, "priority 1000", googleDocs + "compute_firewall#priority (\"Default value is 1000\")"},
	{"google_compute_firewall", "source_ranges", "0.0.0.0/0", "every source when no source tags or service accounts are set either",
		"https://cloud.google.com/firewall/docs/firewalls#sources-for-rules (an ingress rule without sources applies to 0.0.0.0/0)"},
	{"google_compute_firewall", "destination_ranges", "0.0.0.0/0", "every destination (egress)",
		"https://cloud.google.com/firewall/docs/firewalls#destinations-for-rules"},

	// Google buckets: VGL-DATA-002
	{"google_storage_bucket", "public_access_prevention", "inherited", "the organization policy decides; not enforced by the bucket",
		googleDocs + "storage_bucket#public_access_prevention"},
	{"google_storage_bucket_acl", "role_entity", nil, "the entries of predefined_acl", googleDocs + "storage_bucket_acl#role_entity"},
	{"google_storage_bucket_acl", "predefined_acl", nil, "the entries of role_entity", googleDocs + "storage_bucket_acl#predefined_acl"},
}

var tfDefaultIndex = func() map[[2]string]tfDefault {
	m := make(map[[2]string]tfDefault, len(tfDefaults))
	for _, d := range tfDefaults {
		m[[2]string{d.Type, d.Attr}] = d
	}
	return m
}()

// defaultFor returns the documented default of an attribute.
func defaultFor(typ, attr string) (tfDefault, bool) {
	d, ok := tfDefaultIndex[[2]string{typ, attr}]
	return d, ok
}
