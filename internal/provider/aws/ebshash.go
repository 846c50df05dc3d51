package aws

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/time/rate"

	"github.com/vigil-ir/vigil/engine/action"
)

// The content hash of an EBS snapshot, with the EBS direct APIs: blocks
// are read in index order (a window of them fetched at once), each checked
// against the SHA-256 checksum GetSnapshotBlock sends, and fed to one
// SHA-256 with the unlisted blocks as zeros, so the result is sha256sum of
// a byte-for-byte image of the volume. Because the hash runs in order, its
// state (crypto/sha256 is an encoding.BinaryMarshaler) and the next block
// index are all a resume needs: they are checkpointed in the journal, with
// the part of the block manifest read since the previous checkpoint.

const gib = 1 << 30

// blockReader is the part of the EBS direct APIs the hash reads.
type blockReader interface {
	ListSnapshotBlocks(ctx context.Context, in *ebs.ListSnapshotBlocksInput, opts ...func(*ebs.Options)) (*ebs.ListSnapshotBlocksOutput, error)
	GetSnapshotBlock(ctx context.Context, in *ebs.GetSnapshotBlockInput, opts ...func(*ebs.Options)) (*ebs.GetSnapshotBlockOutput, error)
}

// hashCheckpoint is one snapshot's progress, as the journal keeps it.
type hashCheckpoint struct {
	Snapshot string `json:"snapshot"`
	// Next is the first block index not yet in State.
	Next      int64  `json:"next"`
	Blocks    int64  `json:"blocks"`
	BlockSize int64  `json:"block_size"`
	State     string `json:"state"` // base64 of the SHA-256's MarshalBinary
	// Manifest holds the checksums read since the previous checkpoint.
	Manifest map[string]string `json:"manifest,omitempty"`
	Done     bool              `json:"done,omitempty"`
	SHA256   string            `json:"sha256,omitempty"`
	Message  string            `json:"message"`
}

// hashOptions bound how the hash reads.
type hashOptions struct {
	concurrency int
	limiter     *rate.Limiter
	// every is how often progress is checkpointed and reported.
	every     time.Duration
	everyBlks int64
	progress  func(string)
	save      func(hashCheckpoint) error
}

// contentHash is a finished hash.
type contentHash struct {
	sha256    string
	bytes     int64
	blockSize int64
	listed    int
	manifest  map[string]string
}

// resumeFrom folds a snapshot's checkpoints: the last state, and the
// manifest read up to it.
func resumeFrom(snapshot string, cps []hashCheckpoint) (*hashCheckpoint, map[string]string) {
	var last *hashCheckpoint
	manifest := map[string]string{}
	for i := range cps {
		if cps[i].Snapshot != snapshot {
			continue
		}
		last = &cps[i]
		for k, v := range cps[i].Manifest {
			manifest[k] = v
		}
	}
	return last, manifest
}

// hashSnapshot hashes one snapshot's content, resuming from a checkpoint.
func hashSnapshot(ctx context.Context, c blockReader, id string, from *hashCheckpoint, manifest map[string]string, o hashOptions) (*contentHash, error) {
	if from != nil && from.Done {
		return &contentHash{sha256: from.SHA256, bytes: from.Blocks * from.BlockSize, blockSize: from.BlockSize, listed: len(manifest), manifest: manifest}, nil
	}
	h := sha256.New()
	next := int64(0)
	if from != nil {
		raw, err := base64.StdEncoding.DecodeString(from.State)
		if err == nil {
			err = h.(encoding.BinaryUnmarshaler).UnmarshalBinary(raw)
		}
		if err != nil {
			return nil, fmt.Errorf("resume the hash of %s: the checkpoint's state does not decode: %w", id, err)
		}
		next = from.Next
	}
	w := &orderedHash{h: h, next: next, id: id, manifest: manifest, delta: map[string]string{}, o: o, start: time.Now(), startNext: next, lastSave: time.Now()}
	if from != nil {
		o.progress(fmt.Sprintf("%s: resuming at block %d of %d (a checkpoint of an earlier attempt)", id, next, from.Blocks))
	}
	token := ""
	for {
		in := &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id), MaxResults: aws.Int32(10000)}
		if token != "" {
			in.NextToken = aws.String(token)
		} else {
			in.StartingBlockIndex = aws.Int32(int32(w.next))
		}
		if err := o.limiter.Wait(ctx); err != nil {
			return nil, err
		}
		page, err := c.ListSnapshotBlocks(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list the blocks of %s: %w", id, err)
		}
		if err := w.size(page); err != nil {
			return nil, err
		}
		if err := w.page(ctx, c, page.Blocks); err != nil {
			return nil, err
		}
		token = aws.ToString(page.NextToken)
		if token == "" {
			break
		}
	}
	if err := w.zerosTo(w.blocks); err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := w.save(true, sum); err != nil {
		return nil, err
	}
	return &contentHash{sha256: sum, bytes: w.blocks * w.blockSize, blockSize: w.blockSize, listed: len(w.manifest), manifest: w.manifest}, nil
}

// orderedHash feeds blocks to the hash in index order.
type orderedHash struct {
	h                 hash.Hash
	id                string
	next              int64 // the next block index the hash needs
	blocks, blockSize int64
	zero              []byte
	manifest, delta   map[string]string
	o                 hashOptions
	start             time.Time
	startNext         int64
	lastSave, lastMsg time.Time
}

// size reads the volume's size from a page (the same in every page).
func (w *orderedHash) size(page *ebs.ListSnapshotBlocksOutput) error {
	bs, vs := int64(aws.ToInt32(page.BlockSize)), aws.ToInt64(page.VolumeSize)
	if bs <= 0 || vs <= 0 || (vs*gib)%bs != 0 {
		return fmt.Errorf("list the blocks of %s: the answer gives block size %d and volume size %d GiB", w.id, bs, vs)
	}
	if w.blocks != 0 && (w.blocks != vs*gib/bs || w.blockSize != bs) {
		return fmt.Errorf("list the blocks of %s: the volume size changed between pages", w.id)
	}
	w.blocks, w.blockSize = vs*gib/bs, bs
	if w.zero == nil {
		w.zero = make([]byte, bs)
	}
	return nil
}

type fetched struct {
	data []byte
	sum  string
	err  error
}

// page fetches a page's blocks, a window of them at once, and hashes them
// in order.
func (w *orderedHash) page(ctx context.Context, c blockReader, blocks []ebstypes.Block) error {
	sort.Slice(blocks, func(i, j int) bool { return aws.ToInt32(blocks[i].BlockIndex) < aws.ToInt32(blocks[j].BlockIndex) })
	var todo []ebstypes.Block
	for _, b := range blocks {
		i := int64(aws.ToInt32(b.BlockIndex))
		if i >= w.next && i < w.blocks {
			todo = append(todo, b)
		} else if i >= w.blocks {
			return fmt.Errorf("list the blocks of %s: block %d is past the end of the volume (%d blocks)", w.id, i, w.blocks)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conc := max(1, w.o.concurrency)
	slots := make(chan struct{}, conc)
	futures := make([]chan fetched, len(todo))
	for i := range futures {
		futures[i] = make(chan fetched, 1)
	}
	go func() {
		for i, b := range todo {
			select {
			case slots <- struct{}{}: // released once the block is hashed
			case <-ctx.Done():
				futures[i] <- fetched{err: ctx.Err()}
				continue
			}
			go func(i int, b ebstypes.Block) { futures[i] <- w.fetch(ctx, c, b) }(i, b)
		}
	}()
	for i, b := range todo {
		got := <-futures[i]
		if got.err != nil {
			return got.err
		}
		idx := int64(aws.ToInt32(b.BlockIndex))
		if err := w.zerosTo(idx); err != nil {
			return err
		}
		w.h.Write(got.data)
		w.manifest[strconv.FormatInt(idx, 10)] = got.sum
		w.delta[strconv.FormatInt(idx, 10)] = got.sum
		w.next = idx + 1
		<-slots
		if err := w.tick(); err != nil {
			return err
		}
	}
	return nil
}

// fetch reads one block and checks it against its checksum header; a
// block that does not match is read again once.
func (w *orderedHash) fetch(ctx context.Context, c blockReader, b ebstypes.Block) fetched {
	idx := aws.ToInt32(b.BlockIndex)
	var last error
	for try := 0; try < 2; try++ {
		if err := w.o.limiter.Wait(ctx); err != nil {
			return fetched{err: err}
		}
		out, err := c.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(w.id), BlockIndex: aws.Int32(idx), BlockToken: b.BlockToken})
		if err != nil {
			return fetched{err: fmt.Errorf("read block %d of %s: %w", idx, w.id, err)}
		}
		data, err := io.ReadAll(io.LimitReader(out.BlockData, w.blockSize+1))
		out.BlockData.Close()
		if err != nil {
			return fetched{err: fmt.Errorf("read block %d of %s: %w", idx, w.id, err)}
		}
		sum := sha256.Sum256(data)
		want := aws.ToString(out.Checksum)
		switch {
		case out.ChecksumAlgorithm != ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256:
			last = fmt.Errorf("block %d of %s: checksum algorithm %q, want SHA256", idx, w.id, out.ChecksumAlgorithm)
		case int64(len(data)) != w.blockSize || int64(aws.ToInt32(out.DataLength)) != int64(len(data)):
			last = fmt.Errorf("block %d of %s: %d bytes read, x-amz-Data-Length %d, block size %d", idx, w.id, len(data), aws.ToInt32(out.DataLength), w.blockSize)
		case base64.StdEncoding.EncodeToString(sum[:]) != want:
			last = fmt.Errorf("block %d of %s: its SHA-256 is %s, x-amz-Checksum says %s", idx, w.id, base64.StdEncoding.EncodeToString(sum[:]), want)
		default:
			return fetched{data: data, sum: want}
		}
	}
	return fetched{err: fmt.Errorf("read block %d of %s twice and it did not match its checksum: %w", idx, w.id, last)}
}

// zerosTo hashes the unlisted blocks before index end.
func (w *orderedHash) zerosTo(end int64) error {
	for w.next < end {
		w.h.Write(w.zero)
		w.next++
		if err := w.tick(); err != nil {
			return err
		}
	}
	return nil
}

// tick reports progress and checkpoints now and then.
func (w *orderedHash) tick() error {
	if w.next%64 != 0 || w.next == w.blocks {
		return nil // the final checkpoint follows
	}
	now := time.Now()
	if now.Sub(w.lastMsg) >= 5*time.Second {
		w.lastMsg = now
		rate := float64((w.next-w.startNext)*w.blockSize) / now.Sub(w.start).Seconds() / (1 << 20)
		w.o.progress(fmt.Sprintf("%s: %d of %d blocks hashed (%d%%), %.0f MiB/s", w.id, w.next, w.blocks, w.next*100/max(1, w.blocks), rate))
	}
	if now.Sub(w.lastSave) >= w.o.every || (w.o.everyBlks > 0 && w.next%w.o.everyBlks == 0) {
		w.lastSave = now
		return w.save(false, "")
	}
	return nil
}

func (w *orderedHash) save(done bool, sum string) error {
	state, err := w.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	cp := hashCheckpoint{Snapshot: w.id, Next: w.next, Blocks: w.blocks, BlockSize: w.blockSize, State: base64.StdEncoding.EncodeToString(state),
		Manifest: w.delta, Done: done, SHA256: sum, Message: fmt.Sprintf("%s: %d of %d blocks hashed", w.id, w.next, w.blocks)}
	if done {
		cp.Message = fmt.Sprintf("%s: hashed, sha256 %s", w.id, sum)
	}
	w.delta = map[string]string{}
	return w.o.save(cp)
}

// manifestHash is the SHA-256 of a manifest's canonical JSON.
func manifestHash(m map[string]string) string { return action.HashValue(m) }

// ---- the action ----

func numArg(r *action.Request, name string, def int) int {
	v, ok := r.Args[name]
	if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return def
	}
	i, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || i <= 0 {
		return def
	}
	return int(i)
}

// ebsFor is the EBS direct API client for the snapshots at t: the evidence
// role's, or the credentials' own. It is paced by the hash's own limiter,
// not the account's: reading a disk is many small requests.
func (s *session) ebsFor(ctx context.Context, t target) (*ebs.Client, error) {
	var cfg aws.Config
	if s.opts.EvidenceRole != "" {
		cfg = s.base.Copy()
		cfg.Credentials = aws.NewCredentialsCache(s.roleProvider(s.opts.EvidenceRole))
	} else {
		if _, err := s.callerAccount(ctx); err != nil {
			return nil, err
		}
		if t.account != "" && t.account != s.account {
			// Snapshots in another account are most often the copies in
			// the security account, read with the evidence role.
			if s.opts.OrgRole == "" {
				return nil, fmt.Errorf("aws: snapshot %s is in account %s, but the credentials are for %s: pass --aws-evidence-role ROLE_ARN (the role in the security account the evidence was copied with), or --org-role to assume a role in that account", t.id, t.account, s.account)
			}
			c, err := s.config(ctx, t.account)
			if err != nil {
				return nil, err
			}
			cfg = c.Copy()
			cfg.APIOptions = nil
		} else {
			cfg = s.base.Copy()
		}
	}
	return ebs.NewFromConfig(regional(cfg, t.region)), nil
}

func (p *Provider) hashPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	ids := r.Strings("snapshot_ids")
	if len(ids) == 0 {
		return &action.Change{Summary: "no snapshots to hash", NoOp: true}, nil
	}
	where := "with the credentials' own account"
	if s.opts.EvidenceRole != "" {
		where = "as " + s.opts.EvidenceRole
	}
	var targets []string
	for _, id := range ids {
		t := s.locate(id)
		targets = append(targets, t.id)
	}
	return &action.Change{Summary: fmt.Sprintf("hash the content of %d snapshots with the EBS direct APIs, %s", len(ids), where), Targets: targets,
		Details: []string{"every block is read (GetSnapshotBlock) and checked against its checksum; unlisted blocks count as zeros"}}, nil
}

func (p *Provider) hashApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	var cps []hashCheckpoint
	for _, raw := range r.Checkpoints {
		var cp hashCheckpoint
		if json.Unmarshal(raw, &cp) == nil && cp.Snapshot != "" {
			cps = append(cps, cp)
		}
	}
	limiter := rate.NewLimiter(rate.Limit(numArg(r, "requests_per_second", 50)), max(1, numArg(r, "concurrency", 8)))
	o := hashOptions{concurrency: numArg(r, "concurrency", 8), limiter: limiter, every: 30 * time.Second, everyBlks: checkpointBlocks,
		progress: func(m string) { r.Say("%s", m) },
		save: func(cp hashCheckpoint) error {
			return r.Save(cp)
		}}
	res := &action.Result{}
	hashes, manifests := map[string]cty.Value{}, map[string]cty.Value{}
	for _, id := range r.Strings("snapshot_ids") {
		t := s.locate(id)
		c, err := s.ebsFor(ctx, t)
		if err != nil {
			return nil, err
		}
		from, manifest := resumeFrom(t.id, cps)
		got, err := hashSnapshot(ctx, c, t.id, from, manifest, o)
		if err != nil {
			return nil, ebsError(err)
		}
		mh := manifestHash(got.manifest)
		hashes[t.id], manifests[t.id] = cty.StringVal(got.sha256), cty.StringVal(mh)
		arn := id
		if _, _, _, _, ok := ParseARN(id); !ok {
			acct := ""
			if s.opts.EvidenceRole != "" {
				_, _, acct, _, _ = ParseARN(s.opts.EvidenceRole)
			}
			arn = s.arn(ctx, target{account: acct, region: t.region, id: t.id}, "snapshot")
		}
		res.Targets = append(res.Targets, t.id)
		res.Evidence = append(res.Evidence, action.Evidence{Item: "content of snapshot " + t.id, SHA256: got.sha256, Kind: action.EvidenceContent,
			Of: []string{t.id, arn}, Ref: arn, Verify: "aws.ebs.hash_snapshot", Bytes: got.bytes, Args: map[string]any{"snapshot_ids": []string{arn}},
			Note:   fmt.Sprintf("SHA-256 of the %d GiB volume image (%d blocks of %d read and checked, the rest zeros)", got.bytes/gib, got.listed, got.bytes/got.blockSize),
			Detail: map[string]any{"manifest": got.manifest, "manifest_sha256": mh, "block_size": got.blockSize, "listed_blocks": got.listed}})
		r.Say("%s: sha256 %s (%d GiB)", t.id, got.sha256, got.bytes/gib)
	}
	res.Summary = fmt.Sprintf("hashed the content of %d snapshots", len(hashes))
	res.Outputs = map[string]cty.Value{"hashes": mapOrEmpty(hashes), "manifests": mapOrEmpty(manifests)}
	return res, nil
}

// checkpointBlocks is how many blocks pass between checkpoints at most
// (besides one every 30 seconds): 512 MiB.
var checkpointBlocks int64 = 1024

func mapOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	return cty.MapVal(m)
}

// ebsError keeps the EBS direct APIs' errors readable: the throttling
// ones are retryable.
func ebsError(err error) error {
	var te *ebstypes.RequestThrottledException
	if errors.As(err, &te) {
		return &action.RetryableError{Err: err}
	}
	return err
}
