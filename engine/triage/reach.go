package triage

import (
	"fmt"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// networksOf returns the networks an asset is on (GCP network paths, AWS
// VPC ids); a network is on itself.
func (t *triager) networksOf(a *asset.Asset) []string {
	if a.Kind == asset.KindNetwork {
		if a.Provider == asset.AWS {
			return []string{a.Facets.Network}
		}
		return []string{networkPath(a.ID)}
	}
	var out []string
	for _, n := range a.Facets.Networks {
		out = append(out, networkPath(n))
	}
	if a.Facets.Network != "" {
		out = append(out, networkPath(a.Facets.Network))
	}
	return sortedUnique(out)
}

// gcpNetwork finds the network asset of a GCP network path.
func (t *triager) gcpNetwork(path string) *asset.Asset {
	return t.inv.Get("//compute.googleapis.com/" + path)
}

// gcpPeerings lists the networks a GCP network peers with.
func gcpPeerings(n *asset.Asset) []string {
	var out []string
	d := rawData(n)
	list, _ := d["peerings"].([]any)
	for _, p := range list {
		pm, _ := p.(map[string]any)
		if st := str(pm, "state"); st != "" && st != "ACTIVE" {
			continue
		}
		if nw := str(pm, "network"); nw != "" {
			out = append(out, networkPath(nw))
		}
	}
	return out
}

// awsPeerings lists the VPCs (with their accounts) a VPC peers with.
func (t *triager) awsPeerings(vpc string) (peers []string, ids []string) {
	for _, p := range t.byKind[asset.KindPeering] {
		if p.Provider != asset.AWS {
			continue
		}
		d := rawData(p)
		req, _ := d["requesterVpcInfo"].(map[string]any)
		acc, _ := d["accepterVpcInfo"].(map[string]any)
		switch vpc {
		case str(req, "vpcId"):
			peers = append(peers, fmt.Sprintf("%s in account %s", str(acc, "vpcId"), str(acc, "ownerId")))
		case str(acc, "vpcId"):
			peers = append(peers, fmt.Sprintf("%s in account %s", str(req, "vpcId"), str(req, "ownerId")))
		default:
			continue
		}
		ids = append(ids, p.Name)
	}
	return peers, ids
}

func (t *triager) corporate(network string) bool {
	if t.o.Config == nil {
		return false
	}
	for _, g := range t.o.Config.CorporateNetworks {
		if globMatch(g, network) {
			return true
		}
	}
	return false
}

// serviceAccountProject returns the project a service account email
// belongs to: NAME@PROJECT.iam.gserviceaccount.com, or the project number
// of NUMBER-compute@developer / NUMBER@cloudservices accounts.
func serviceAccountProject(email string) string {
	email = strings.TrimPrefix(email, "serviceAccount:")
	local, domain, ok := strings.Cut(email, "@")
	if !ok {
		return ""
	}
	if p, ok := strings.CutSuffix(domain, ".iam.gserviceaccount.com"); ok {
		return p
	}
	num, _, _ := strings.Cut(local, "-")
	return num
}

func (t *triager) reachProjects(a, scope *asset.Asset) Answer {
	ans := Answer{Question: QReachProjects}
	var missing []string
	if a.Provider == asset.GCP {
		ans.Details, missing = t.gcpReach(a, scope)
	} else {
		ans.Details, missing = t.awsReach(a, scope)
	}
	switch {
	case len(ans.Details) > 0:
		ans.Known, ans.Value = true, fmt.Sprintf("yes (%d)", len(ans.Details))
	case len(missing) == 0:
		ans.Known, ans.Value = true, "none found"
	default:
		ans.Value = "unknown"
	}
	if len(missing) > 0 {
		ans.Collect = "to be sure, collect " + strings.Join(missing, "; ")
	}
	return ans
}

func (t *triager) gcpReach(a, scope *asset.Asset) (details, missing []string) {
	project, number := a.Scope, ""
	if scope != nil {
		project, number = scope.Name, scope.Facets.ProjectNumber
	}
	own := func(p string) bool { return p == "" || p == project || p == number }
	// Principals of other projects (and everyone) with roles on the asset
	// or its project: they reach in.
	for _, x := range nonNil(a, scope) {
		for _, b := range x.Facets.Bindings {
			for _, m := range b.Members {
				switch {
				case m == "allUsers" || m == "allAuthenticatedUsers":
					details = append(details, fmt.Sprintf("%s has %s on %s: anyone reaches it", m, b.Role, where(x, a)))
				case strings.HasPrefix(m, "serviceAccount:") && !own(serviceAccountProject(m)):
					details = append(details, fmt.Sprintf("%s of project %s has %s on %s", strings.TrimPrefix(m, "serviceAccount:"), serviceAccountProject(m), b.Role, where(x, a)))
				}
			}
		}
	}
	if scope == nil || len(scope.Facets.Bindings) == 0 {
		missing = append(missing, "the project's IAM policy (CAI content type IAM_POLICY)")
	}
	// The asset's own identities with roles elsewhere: it reaches out.
	for _, sa := range a.Facets.ServiceAccounts {
		for _, g := range t.grants["serviceAccount:"+sa] {
			x := g.on
			if own(x.Scope) || (x.Facets.ProjectNumber != "" && own(x.Facets.ProjectNumber)) {
				continue
			}
			details = append(details, fmt.Sprintf("it runs as %s, which has %s on %s %s in project %s", sa, g.role, x.Kind, x.Name, x.Scope))
		}
	}
	// Networks: Shared VPC and peering.
	for _, n := range t.networksOf(a) {
		if p := projectOfPath(n); p != "" && !own(p) {
			details = append(details, fmt.Sprintf("it is on network %s of project %s (Shared VPC)", n, p))
		}
		na := t.gcpNetwork(n)
		if na == nil {
			missing = append(missing, "network "+n+" (CAI asset type compute.googleapis.com/Network)")
			continue
		}
		for _, peer := range gcpPeerings(na) {
			if p := projectOfPath(peer); !own(p) {
				details = append(details, fmt.Sprintf("network %s peers with %s of project %s", na.Name, peer, p))
			}
		}
	}
	return sortedUnique(details), sortedUnique(missing)
}

func (t *triager) awsReach(a, scope *asset.Asset) (details, missing []string) {
	for _, vpc := range t.networksOf(a) {
		peers, ids := t.awsPeerings(vpc)
		for i, p := range peers {
			if !strings.HasSuffix(p, "account "+a.Scope) {
				details = append(details, fmt.Sprintf("%s peers with %s (%s)", vpc, p, ids[i]))
			}
		}
		for _, tg := range t.tgwOf(vpc) {
			for _, other := range t.byKind[asset.KindTransitGateway] {
				d := rawData(other)
				if str(d, "transitGatewayId") == tg && str(d, "resourceType") == "vpc" && str(d, "resourceOwnerId") != "" && str(d, "resourceOwnerId") != a.Scope {
					details = append(details, fmt.Sprintf("%s shares transit gateway %s with %s of account %s", vpc, tg, str(d, "resourceId"), str(d, "resourceOwnerId")))
				}
			}
		}
	}
	if !t.kindsOf[asset.AWS][asset.KindPeering] && !t.kindsOf[asset.AWS][asset.KindTransitGateway] {
		missing = append(missing, "VPC peerings and transit gateway attachments (AWS Config: AWS::EC2::VPCPeeringConnection, AWS::EC2::TransitGatewayAttachment)")
	}
	// Roles of the account that other accounts may assume: they reach in.
	for _, r := range t.byKind[asset.KindRole] {
		if r.Provider != asset.AWS || r.Scope != a.Scope {
			continue
		}
		for _, acct := range trustedAccounts(rawData(r)) {
			if acct != a.Scope {
				details = append(details, fmt.Sprintf("role %s of account %s can be assumed from account %s", r.Name, a.Scope, acct))
			}
		}
	}
	if !t.kindsOf[asset.AWS][asset.KindRole] {
		missing = append(missing, "IAM roles with their trust policies (AWS Config: AWS::IAM::Role)")
	}
	return sortedUnique(details), sortedUnique(missing)
}

// trustedAccounts reads the AWS accounts a role's trust policy lets assume it.
func trustedAccounts(d map[string]any) []string {
	doc := decodePolicy(str(d, "assumeRolePolicyDocument"))
	var out []string
	stmts, _ := doc["Statement"].([]any)
	if one, ok := doc["Statement"].(map[string]any); ok {
		stmts = []any{one}
	}
	for _, s := range stmts {
		sm, _ := s.(map[string]any)
		if str(sm, "Effect") != "Allow" {
			continue
		}
		p, _ := sm["Principal"].(map[string]any)
		var aws []string
		switch v := p["AWS"].(type) {
		case string:
			aws = []string{v}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					aws = append(aws, s)
				}
			}
		}
		for _, pr := range aws {
			if strings.HasPrefix(pr, "arn:aws:iam::") {
				pr = strings.SplitN(strings.TrimPrefix(pr, "arn:aws:iam::"), ":", 2)[0]
			}
			out = append(out, pr)
		}
	}
	return out
}

// tgwOf lists the transit gateways a VPC is attached to.
func (t *triager) tgwOf(vpc string) []string {
	var out []string
	for _, x := range t.byKind[asset.KindTransitGateway] {
		d := rawData(x)
		if str(d, "resourceType") == "vpc" && str(d, "resourceId") == vpc {
			out = append(out, str(d, "transitGatewayId"))
		}
	}
	return sortedUnique(out)
}

func (t *triager) reachCorporate(a, scope *asset.Asset) Answer {
	ans := Answer{Question: QReachCorporate}
	if len(t.networksOf(a)) == 0 {
		ans.Known, ans.Value = true, "not on a network"
		ans.Details = []string{"it has no network of its own (" + a.Kind + "): who can reach it is in its IAM bindings or policy (see the question above)"}
		return ans
	}
	kinds := t.kindsOf[a.Provider]
	var missing []string
	for _, n := range t.networksOf(a) {
		if t.corporate(n) {
			ans.Details = append(ans.Details, fmt.Sprintf("%s is itself a corporate network (corporate_networks in vigil.hcl)", n))
		}
		if a.Provider == asset.GCP {
			if na := t.gcpNetwork(n); na != nil {
				for _, peer := range gcpPeerings(na) {
					if t.corporate(peer) {
						ans.Details = append(ans.Details, fmt.Sprintf("network %s peers with corporate network %s", na.Name, peer))
					}
				}
			}
			for _, v := range t.byKind[asset.KindVPNTunnel] {
				if v.Provider == asset.GCP && t.gcpTunnelOn(v, n) {
					ans.Details = append(ans.Details, fmt.Sprintf("VPN tunnel %s (%s) connects network %s to %s", v.Name, v.Region, n, str(rawData(v), "peerIp")))
				}
			}
			for _, ic := range t.byKind[asset.KindInterconnect] {
				if ic.Provider == asset.GCP && strings.Contains(str(rawData(ic), "router"), "projects/"+projectOfPath(n)+"/") {
					ans.Details = append(ans.Details, fmt.Sprintf("Interconnect attachment %s in %s serves project %s", ic.Name, ic.Region, projectOfPath(n)))
				}
			}
			continue
		}
		// AWS: transit gateways with a VPN or Direct Connect, and peering to
		// networks named corporate.
		for _, tg := range t.tgwOf(n) {
			for _, v := range t.byKind[asset.KindVPNTunnel] {
				if str(rawData(v), "transitGatewayId") == tg {
					ans.Details = append(ans.Details, fmt.Sprintf("%s is attached to transit gateway %s, which has VPN connection %s (%s)", n, tg, v.Name, str(rawData(v), "customerGatewayId")))
				}
			}
			for _, dx := range t.byKind[asset.KindInterconnect] {
				if strings.Contains(string(dx.Data), tg) {
					ans.Details = append(ans.Details, fmt.Sprintf("%s is attached to transit gateway %s, which has Direct Connect %s", n, tg, dx.Name))
				}
			}
		}
		peers, ids := t.awsPeerings(n)
		for i, p := range peers {
			if t.corporate(strings.Fields(p)[0]) {
				ans.Details = append(ans.Details, fmt.Sprintf("%s peers with corporate network %s (%s)", n, p, ids[i]))
			}
		}
	}
	if !kinds[asset.KindVPNTunnel] && !kinds[asset.KindInterconnect] && !kinds[asset.KindTransitGateway] {
		if a.Provider == asset.GCP {
			missing = append(missing, "VPN tunnels and Interconnect attachments (CAI: compute.googleapis.com/VpnTunnel, compute.googleapis.com/InterconnectAttachment)")
		} else {
			missing = append(missing, "VPN connections, Direct Connect and transit gateway attachments (AWS Config: AWS::EC2::VPNConnection, AWS::EC2::TransitGatewayAttachment)")
		}
	}
	if t.o.Config == nil || len(t.o.Config.CorporateNetworks) == 0 {
		missing = append(missing, "the names of corporate networks (corporate_networks in vigil.hcl), to recognise peering to them")
	}
	ans.Details = sortedUnique(ans.Details)
	switch {
	case len(ans.Details) > 0:
		ans.Known, ans.Value = true, "yes"
	case len(missing) == 0:
		ans.Known, ans.Value = true, "no link found"
	default:
		ans.Value = "unknown"
	}
	if len(missing) > 0 {
		ans.Collect = "to be sure, collect " + strings.Join(missing, "; ")
	}
	return ans
}

// gcpTunnelOn reports whether a VPN tunnel's gateway or router is on network n.
func (t *triager) gcpTunnelOn(v *asset.Asset, n string) bool {
	d := rawData(v)
	for _, k := range []string{"network", "vpnGateway", "targetVpnGateway", "router"} {
		ref := str(d, k)
		if ref == "" {
			continue
		}
		if networkPath(ref) == n {
			return true
		}
		// Gateways and routers are named in their project; without their
		// own records, a tunnel in the network's project is taken as on it.
		if projectOfPath(ref) == projectOfPath(n) && !strings.Contains(ref, "/networks/") {
			return true
		}
	}
	return false
}
