package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// logEntryJSON is the part of a Cloud Logging LogEntry vigil reads.
type logEntryJSON struct {
	LogName   string `json:"logName"`
	InsertID  string `json:"insertId"`
	Timestamp string `json:"timestamp"`
	Resource  struct {
		Type   string            `json:"type"`
		Labels map[string]string `json:"labels"`
	} `json:"resource"`
	ProtoPayload struct {
		Type         string `json:"@type"`
		ServiceName  string `json:"serviceName"`
		MethodName   string `json:"methodName"`
		ResourceName string `json:"resourceName"`
		Status       *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
		AuthenticationInfo struct {
			PrincipalEmail string `json:"principalEmail"`
		} `json:"authenticationInfo"`
		ResourceLocation struct {
			CurrentLocations []string `json:"currentLocations"`
		} `json:"resourceLocation"`
	} `json:"protoPayload"`
}

const auditLogType = "type.googleapis.com/google.cloud.audit.AuditLog"

// AuditMethods are the Cloud Audit Logs methods vigil acts on, by service;
// the log sink filter in examples/watch/gcp names exactly these (a test
// checks), through the ":" (has) operator, which matches them anywhere in
// the method name. Compute methods are written without their API version
// prefix (v1., beta.): they match any. Resource Manager logs its methods
// under several spellings: v1's SetIamPolicy and CreateProject, the RPC's
// full name (google.cloud.resourcemanager.v3.Projects.SetIamPolicy,
// google.cloudresourcemanager.v3.Projects.CreateProject) and the
// REST-style names of Google's "Resource Manager audit logging" page
// (cloudresourcemanager.v3.projects.setIamPolicy, ...projects.create):
// the list names each spelling's distinctive part, and crmMethod brings
// them all to v1's. The methods that remove things (compute.firewalls.delete,
// storage.buckets.delete, ...) are watched too: the event scan then finds
// the asset gone and forgets that its findings were announced, so that one
// made again with the same name is announced again. (Resource Manager's and
// Cloud Storage's IAM methods both open and close.)
var AuditMethods = map[string][]string{
	"compute.googleapis.com": {"compute.firewalls.insert", "compute.firewalls.patch", "compute.firewalls.update", "compute.instances.insert", "compute.networks.insert",
		"compute.firewalls.delete", "compute.instances.delete", "compute.networks.delete",
		// An instance's external IP removed, its metadata changed (OS
		// Login, serial port, project-wide SSH keys): judged again.
		"compute.instances.deleteAccessConfig", "compute.instances.setMetadata"},
	"cloudresourcemanager.googleapis.com": {"SetIamPolicy", "setIamPolicy", "CreateProject", "projects.create"},
	"storage.googleapis.com":              {"storage.setIamPermissions", "storage.buckets.create", "storage.buckets.update", "storage.buckets.delete"},
	"logging.googleapis.com": {"google.logging.v2.ConfigServiceV2.UpdateSink", "google.logging.v2.ConfigServiceV2.DeleteSink",
		"google.logging.v2.ConfigServiceV2.CreateSink"},
}

// crmMethod names a Resource Manager method as v1 logs it, whatever the
// spelling (see AuditMethods): SetIamPolicy, CreateProject, or what follows
// the last dot of a method vigil does not act on.
func crmMethod(m string) string {
	parts := strings.Split(m, ".")
	last := parts[len(parts)-1]
	switch {
	case strings.EqualFold(last, "SetIamPolicy"):
		return "SetIamPolicy"
	case strings.EqualFold(last, "CreateProject"),
		strings.EqualFold(last, "create") && len(parts) > 1 && strings.EqualFold(parts[len(parts)-2], "projects"):
		return "CreateProject"
	}
	return last
}

// computeMethod strips the API version of a Compute method name
// (v1.compute.firewalls.insert -> compute.firewalls.insert).
func computeMethod(m string) string {
	if i := strings.Index(m, "compute."); i >= 0 {
		return m[i:]
	}
	return m
}

func logEntry(body []byte) (*Event, error) {
	var le logEntryJSON
	if err := json.Unmarshal(body, &le); err != nil {
		return nil, malformed("log entry: %v", err)
	}
	pp := &le.ProtoPayload
	if le.InsertID == "" {
		return nil, malformed("log entry without insertId")
	}
	if pp.Type != "" && pp.Type != auditLogType {
		return nil, ignored("log entry payload %s is not an audit log", pp.Type)
	}
	if pp.MethodName == "" || pp.ServiceName == "" {
		return nil, malformed("audit log entry without serviceName or methodName")
	}
	project := le.Resource.Labels["project_id"]
	ev := &Event{ID: "gcp:log:" + le.LogName + ":" + le.InsertID, Kind: KindConfig, Provider: "gcp", Source: "audit-log",
		Name: pp.MethodName, Time: parseTime(le.Timestamp), Scope: project, Actor: pp.AuthenticationInfo.PrincipalEmail}
	method := pp.MethodName
	switch pp.ServiceName {
	case "compute.googleapis.com":
		method = computeMethod(method)
	case "cloudresourcemanager.googleapis.com":
		method = crmMethod(method)
	}
	known := false
	for _, m := range AuditMethods[pp.ServiceName] {
		known = known || m == method
	}
	if !known {
		return nil, ignored("%s %s is not a method vigil watches", pp.ServiceName, pp.MethodName)
	}
	if pp.Status != nil && pp.Status.Code != 0 {
		return nil, ignored("%s failed (code %d: %s): nothing changed", pp.MethodName, pp.Status.Code, pp.Status.Message)
	}
	changes, err := auditChanges(ev, pp.ServiceName, method, pp.ResourceName, le.Resource.Labels)
	if errors.Is(err, ErrIgnored) {
		return nil, err
	}
	if err != nil {
		return nil, malformed("%s: %v", pp.MethodName, err)
	}
	ev.Changes = changes
	return ev, nil
}

// auditChanges maps an audit log's resource name to the CAI asset it
// changed.
func auditChanges(ev *Event, service, method, resource string, labels map[string]string) ([]Change, error) {
	parts := strings.Split(resource, "/")
	at := func(kind string) string {
		for i := 0; i+1 < len(parts); i++ {
			if parts[i] == kind {
				return parts[i+1]
			}
		}
		return ""
	}
	project := firstOf(at("projects"), ev.Scope)
	if project == "_" {
		project = ev.Scope
	}
	if ev.Scope == "" {
		ev.Scope = project
	}
	c := Change{Provider: "gcp", Scope: project}
	switch service {
	case "compute.googleapis.com":
		coll := strings.Split(method, ".")[1] // firewalls, instances, networks
		name := at(coll)
		if project == "" || name == "" {
			return nil, fmt.Errorf("resourceName %q does not name projects/P/.../%s/NAME", resource, coll)
		}
		c.Name = name
		c.Created, c.Deleted = strings.HasSuffix(method, ".insert"), strings.HasSuffix(method, ".delete")
		switch coll {
		case "firewalls":
			c.Type, c.ID = "compute.googleapis.com/Firewall", fmt.Sprintf("//compute.googleapis.com/projects/%s/global/firewalls/%s", project, name)
			c.Region = "global"
		case "networks":
			c.Type, c.ID = "compute.googleapis.com/Network", fmt.Sprintf("//compute.googleapis.com/projects/%s/global/networks/%s", project, name)
			c.Region = "global"
		case "instances":
			zone := firstOf(at("zones"), labels["zone"])
			if zone == "" {
				return nil, fmt.Errorf("resourceName %q names no zone", resource)
			}
			c.Type, c.ID = "compute.googleapis.com/Instance", fmt.Sprintf("//compute.googleapis.com/projects/%s/zones/%s/instances/%s", project, zone, name)
			c.Region = zone[:max(0, strings.LastIndexByte(zone, '-'))]
		}
	case "cloudresourcemanager.googleapis.com":
		// resourceName is projects/ID (or projects/NUMBER); CAI names
		// projects by number, which the consumer resolves.
		if project == "" {
			if method == "SetIamPolicy" && (strings.HasPrefix(resource, "folders/") || strings.HasPrefix(resource, "organizations/")) {
				return nil, ignored("IAM policy of %s: vigil re-reads projects and buckets", resource)
			}
			return nil, fmt.Errorf("resourceName %q names no project", resource)
		}
		c.Type, c.ID, c.Name, c.Region = "cloudresourcemanager.googleapis.com/Project", "//cloudresourcemanager.googleapis.com/projects/"+project, project, "global"
		c.Created, c.Dependents = method != "SetIamPolicy", true
	case "storage.googleapis.com":
		b := at("buckets")
		if b == "" {
			return nil, fmt.Errorf("resourceName %q names no bucket", resource)
		}
		c.Type, c.ID, c.Name = "storage.googleapis.com/Bucket", "//storage.googleapis.com/"+b, b
		c.Created, c.Deleted = method == "storage.buckets.create", method == "storage.buckets.delete"
		if c.Scope == "" || c.Scope == "_" {
			c.Scope = labels["project_id"]
		}
	case "logging.googleapis.com":
		// A sink of a project, or an aggregated one of a folder or the
		// organization (what examples/watch/gcp makes for vigil itself:
		// tampering with it must be seen). Its scope is then the node, and
		// every project under it depends on it.
		sink := at("sinks")
		parent := ""
		switch {
		case len(parts) == 4 && parts[2] == "sinks" && (parts[0] == "organizations" || parts[0] == "folders") && parts[1] != "":
			parent = parts[0] + "/" + parts[1]
			c.Scope = parent
			if ev.Scope == "" || ev.Scope == project {
				ev.Scope = parent
			}
		case len(parts) == 4 && parts[0] == "billingAccounts":
			return nil, ignored("log sink %s of a billing account: vigil judges projects, folders and organizations", resource)
		case project != "" && sink != "":
			parent = "projects/" + project
		}
		if parent == "" || sink == "" {
			return nil, fmt.Errorf("resourceName %q does not name projects/P/sinks/S, folders/F/sinks/S or organizations/O/sinks/S", resource)
		}
		c.Type, c.ID, c.Name, c.Region = "logging.googleapis.com/LogSink", fmt.Sprintf("//logging.googleapis.com/%s/sinks/%s", parent, sink), sink, "global"
		c.Deleted, c.Created, c.Dependents = strings.HasSuffix(method, "DeleteSink"), strings.HasSuffix(method, "CreateSink"), true
	}
	return []Change{c}, nil
}

// sccJSON is the part of an SCC notification that names it.
type sccJSON struct {
	NotificationConfigName string `json:"notificationConfigName"`
	Finding                struct {
		Name      string `json:"name"`
		EventTime string `json:"eventTime"`
		State     string `json:"state"`
	} `json:"finding"`
}

func sccNotification(body []byte) (*Event, error) {
	var n sccJSON
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, malformed("SCC notification: %v", err)
	}
	if n.Finding.Name == "" {
		return nil, malformed("SCC notification without finding.name")
	}
	if n.Finding.State == "INACTIVE" {
		return nil, ignored("SCC finding %s is inactive", n.Finding.Name)
	}
	// A finding is notified again when it changes; its event time says
	// which change this is.
	ev := &Event{ID: "gcp:scc:" + n.Finding.Name + "@" + n.Finding.EventTime, Provider: "gcp", Source: "scc", Time: parseTime(n.Finding.EventTime)}
	return alerts(ev, body)
}
