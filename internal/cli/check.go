package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/inventory"
)

func (a *app) checkCmd() *cobra.Command {
	var f judgeFlags
	c := &cobra.Command{
		Use:   "check [flags] PLAN.json...",
		Short: "Judge a Terraform plan with the posture policies before it deploys",
		Long: `Check reads the JSON form of Terraform plans ('terraform show -json plan.out')
and judges every resource the plan would create, update or replace with the
same policies, settings, waivers and output formats as 'vigil scan'. Each
planned resource becomes an asset whose id is its full address
(module.net.aws_security_group.web["a"]).

What a plan cannot know is not passed silently: a rule whose sources or
ports are known only after apply, an instance whose public IP depends on its
subnet, a bucket whose policy is computed, all give findings that say the
value is unknown; --fail-on decides whether they fail the build. Resources
planned for deletion are not judged; resource types vigil has no mapping for
are listed in the summary.

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 bad input or usage.`,
		Example: `  terraform plan -out plan.out && terraform show -json plan.out > plan.json
  vigil check plan.json

  # in CI: SARIF for code scanning, fail only on high and critical
  vigil check plan.json --format sarif --output vigil.sarif --fail-on high

  # annotations on the pull request (GitHub Actions)
  vigil check plan.json --format github`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "no plan given")
			}
			if err := f.validate(c); err != nil {
				return err
			}
			for _, p := range args {
				format, err := inventory.Detect(p)
				if err != nil {
					return a.inputError(err)
				}
				if format != inventory.FormatTerraformPlan {
					return &exitError{code: ExitError, err: fmt.Errorf("%s is not a Terraform plan (it looks like %s); create one with 'terraform show -json plan.out > plan.json', or use 'vigil scan' for inventories", p, describeFormat(format))}
				}
			}
			j, err := a.loadJudge(c.Context(), &f)
			if err != nil {
				return err
			}
			fs, err := inventory.Open(args...)
			if err != nil {
				return a.inputError(err)
			}
			err = a.runJudge(c.Context(), &f, j, []inventory.Source{fs})
			return err
		},
	}
	f.register(c)
	return c
}

func describeFormat(f inventory.Format) string {
	switch f {
	case inventory.FormatCAI:
		return "a Cloud Asset Inventory export"
	case inventory.FormatAWSConfig:
		return "AWS Config items"
	case inventory.FormatVigil:
		return "vigil NDJSON"
	}
	return "something else"
}
