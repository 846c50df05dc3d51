package awsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The EBS direct APIs (REST JSON, https://docs.aws.amazon.com/ebs/latest/APIReference/):
//
//	GET /snapshots/{snapshotId}/blocks?maxResults=&pageToken=&startingBlockIndex=   ListSnapshotBlocks
//	GET /snapshots/{snapshotId}/blocks/{blockIndex}?blockToken=                     GetSnapshotBlock
//
// A snapshot's content is the blocks its volume had written when it was
// taken (Volume.Blocks, 512 KiB each, by index); blocks never written are
// not listed, and read as zeros. ListSnapshotBlocks answers at most
// BlocksPerPage blocks a page ("the request can return less blocks than
// MaxResults"), with a NextToken while more are left; GetSnapshotBlock
// answers the block's bytes with its length in x-amz-Data-Length and its
// Base64 SHA-256 in x-amz-Checksum (x-amz-Checksum-Algorithm: SHA256).
// Errors are restJson1: the x-amzn-ErrorType header and {"Message": ...}.

// BlockSize is the EBS direct APIs' block size: 512 KiB.
const BlockSize = 512 << 10

// BlocksPerPage is how many blocks one ListSnapshotBlocks page holds at
// most in the fake (fewer than MaxResults allows, so that paging shows).
var BlocksPerPage = 1000

// SyntheticBlock is block index of a synthetic volume: bytes that depend on
// the volume and the index, none of them zero, so that a block read in the
// wrong place changes the hash.
func SyntheticBlock(volume string, index int64) []byte {
	out := make([]byte, 0, BlockSize)
	var ctr [8]byte
	for n := uint64(0); len(out) < BlockSize; n++ {
		binary.BigEndian.PutUint64(ctr[:], n)
		h := sha256.New()
		fmt.Fprintf(h, "%s/%d/", volume, index)
		h.Write(ctr[:])
		out = h.Sum(out)
	}
	for i := range out {
		if out[i] == 0 {
			out[i] = 1
		}
	}
	return out[:BlockSize]
}

// Write gives a volume synthetic content in the listed blocks (under With).
func (v *Volume) Write(blocks ...int64) {
	if v.Blocks == nil {
		v.Blocks = map[int64][]byte{}
	}
	for _, b := range blocks {
		v.Blocks[b] = SyntheticBlock(v.ID, b)
	}
}

func copyBlocks(m map[int64][]byte) map[int64][]byte {
	out := make(map[int64][]byte, len(m))
	for k, v := range m {
		out[k] = append([]byte(nil), v...)
	}
	return out
}

var tokenKey = []byte("awsfake block tokens")

// blockToken is an opaque token for one block of one snapshot, valid until
// expiry, as ListSnapshotBlocks hands them out.
func blockToken(snapshot string, index int64, expiry time.Time) string {
	msg := fmt.Sprintf("%s:%d:%d", snapshot, index, expiry.Unix())
	mac := hmac.New(sha256.New, tokenKey)
	mac.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(append([]byte(msg+":"), mac.Sum(nil)[:12]...))
}

func checkToken(tok, snapshot string, index int64, now time.Time) string {
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return "The block token is not valid."
	}
	parts := strings.SplitN(string(raw), ":", 4)
	if len(parts) != 4 {
		return "The block token is not valid."
	}
	exp, _ := strconv.ParseInt(parts[2], 10, 64)
	if blockToken(parts[0], mustInt(parts[1]), time.Unix(exp, 0)) != tok || parts[0] != snapshot || mustInt(parts[1]) != index {
		return "The block token is not valid for this block."
	}
	if now.After(time.Unix(exp, 0)) {
		return "The block token has expired."
	}
	return ""
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func ebsError(req *request, status int, typ, msg string) {
	req.status = status
	req.w.Header().Set("Content-Type", "application/json")
	req.w.Header().Set("X-Amzn-Errortype", typ)
	req.w.WriteHeader(status)
	json.NewEncoder(req.w).Encode(map[string]string{"Message": msg})
}

// ebs serves the EBS direct APIs vigil reads.
func (f *Fake) ebs(req *request) {
	parts := strings.Split(strings.Trim(req.r.URL.Path, "/"), "/")
	if req.r.Method != http.MethodGet || len(parts) < 3 || parts[0] != "snapshots" || parts[2] != "blocks" || len(parts) > 4 {
		ebsError(req, http.StatusNotFound, "ResourceNotFoundException", "the fake does not serve "+req.r.Method+" "+req.r.URL.Path)
		return
	}
	req.op = "ListSnapshotBlocks"
	if len(parts) == 4 {
		req.op = "GetSnapshotBlock"
	}
	switch f.fault(req) {
	case "throttle":
		ebsError(req, http.StatusBadRequest, "RequestThrottledException", "The request was throttled.")
		return
	case "denied":
		ebsError(req, http.StatusForbidden, "AccessDeniedException", fmt.Sprintf("User: arn:aws:iam::%s:user/vigil is not authorized to perform: ebs:%s", req.acctID, req.op))
		return
	case "unavailable":
		ebsError(req, http.StatusInternalServerError, "InternalServerException", "An internal error has occurred.")
		return
	case "reset":
		return
	}
	id := parts[1]
	s := req.account.Region(req.region).Snapshots[id]
	if s == nil || !f.seen(id) {
		ebsError(req, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("The snapshot '%s' does not exist.", id))
		return
	}
	if s.Encrypted {
		// Reading an encrypted snapshot's blocks uses its key.
		req.perms = append(req.perms, "kms:Decrypt")
	}
	if s.State != "completed" {
		ebsError(req, http.StatusBadRequest, "ValidationException", fmt.Sprintf("The snapshot '%s' is not in the completed state.", id))
		return
	}
	q := req.r.URL.Query()
	if req.op == "GetSnapshotBlock" {
		index, err := strconv.ParseInt(parts[3], 10, 64)
		if err != nil || index < 0 {
			ebsError(req, http.StatusBadRequest, "ValidationException", "blockIndex must be a non-negative integer.")
			return
		}
		if msg := checkToken(q.Get("blockToken"), id, index, f.now()); msg != "" {
			ebsError(req, http.StatusBadRequest, "ValidationException", msg)
			return
		}
		data, ok := s.Blocks[index]
		if !ok {
			ebsError(req, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("Block %d of snapshot %s does not exist.", index, id))
			return
		}
		sum := sha256.Sum256(data)
		req.w.Header().Set("Content-Type", "application/octet-stream")
		req.w.Header().Set("x-amz-Data-Length", strconv.Itoa(len(data)))
		req.w.Header().Set("x-amz-Checksum", base64.StdEncoding.EncodeToString(sum[:]))
		req.w.Header().Set("x-amz-Checksum-Algorithm", "SHA256")
		if s.BadChecksum[index] {
			// a corrupted transfer: the checksum of other bytes
			req.w.Header().Set("x-amz-Checksum", base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}
		req.w.Write(data)
		return
	}
	max := 10000
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 10000 {
			ebsError(req, http.StatusBadRequest, "ValidationException", "maxResults must be between 100 and 10000.")
			return
		}
		max = n
	}
	start := int64(0)
	if tok := q.Get("pageToken"); tok != "" {
		// "If you specify NextToken, then StartingBlockIndex is ignored."
		raw, err := base64.StdEncoding.DecodeString(tok)
		snap, at, ok := strings.Cut(string(raw), "@")
		if err != nil || !ok || snap != id {
			ebsError(req, http.StatusBadRequest, "ValidationException", "The pagination token is not valid.")
			return
		}
		start = mustInt(at)
	} else if v := q.Get("startingBlockIndex"); v != "" {
		start = mustInt(v)
	}
	idx := slices.Sorted(maps.Keys(s.Blocks))
	expiry := f.now().Add(time.Hour)
	var blocks []map[string]any
	next := ""
	for _, i := range idx {
		if i < start {
			continue
		}
		if len(blocks) == min(max, BlocksPerPage) {
			next = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%s@%d", id, i)))
			break
		}
		blocks = append(blocks, map[string]any{"BlockIndex": i, "BlockToken": blockToken(id, i, expiry)})
	}
	out := map[string]any{"Blocks": blocks, "BlockSize": BlockSize, "VolumeSize": s.VolumeSize, "ExpiryTime": expiry.Unix()}
	if blocks == nil {
		out["Blocks"] = []any{}
	}
	if next != "" {
		out["NextToken"] = next
	}
	req.w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(req.w).Encode(out)
}
