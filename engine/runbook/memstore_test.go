package runbook_test

import (
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/engine/runbook/runbooktest"
)

func TestMemoryStoreContract(t *testing.T) {
	s := runbook.NewMemoryStore()
	runbooktest.StoreContract(t, func(*testing.T) runbook.Store { return s })
}
