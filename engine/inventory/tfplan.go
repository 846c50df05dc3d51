package inventory

import (
	"errors"

	"github.com/vigil-ir/vigil/engine/asset"
)

func (s *FileSet) scanPlan(in *inputFile, t *scopeTracker, emit func(*asset.Asset) error) error {
	return &ParseError{File: in.path, Err: errors.New("Terraform plans are not supported yet")}
}
