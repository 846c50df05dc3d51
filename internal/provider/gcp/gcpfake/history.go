package gcpfake

import (
	"context"
	"time"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SetClock sets the fake's clock: the update time of every asset and the
// read time of every answer.
func (f *Fake) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// BatchGetAssetsHistory answers with the current version of each named
// asset of the content type: a temporal asset whose window starts at the
// asset's update time and is still open. As the API documents: the parent
// is an organization or a project, at most 100 names, and a read time
// window (when given) may start no earlier than 35 days ago. Names that do
// not exist are left out.
func (s *assetServer) BatchGetAssetsHistory(_ context.Context, req *assetpb.BatchGetAssetsHistoryRequest) (*assetpb.BatchGetAssetsHistoryResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.fault("BatchGetAssetsHistory", req.Parent, assetPermission("export", req.ContentType)); err != nil {
		return nil, err
	}
	if !validParent(req.Parent) || (req.Parent[:8] != "projects" && req.Parent[:13] != "organizations") {
		return nil, status.Errorf(codes.InvalidArgument, "parent must be organizations/N or projects/P, not %q", req.Parent)
	}
	if len(req.AssetNames) == 0 || len(req.AssetNames) > 100 {
		return nil, status.Errorf(codes.InvalidArgument, "asset_names must hold 1 to 100 names, not %d", len(req.AssetNames))
	}
	now := s.f.now()
	if w := req.ReadTimeWindow; w != nil && w.StartTime != nil && w.StartTime.AsTime().Before(now.Add(-35*24*time.Hour)) {
		return nil, status.Error(codes.InvalidArgument, "read_time_window.start_time must be after the current time minus 35 days")
	}
	want := map[string]bool{}
	for _, n := range req.AssetNames {
		want[n] = true
	}
	resp := &assetpb.BatchGetAssetsHistoryResponse{}
	for _, a := range s.f.list(req.Parent, nil, req.ContentType) {
		if want[a.Name] {
			resp.Assets = append(resp.Assets, &assetpb.TemporalAsset{Window: &assetpb.TimeWindow{StartTime: a.UpdateTime, EndTime: timestamppb.New(now)}, Asset: a})
		}
	}
	return resp, nil
}
