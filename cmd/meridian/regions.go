package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/regions"
)

// regionsOptions are the flags of `meridian regions`.
type regionsOptions struct {
	cloud    string
	boundary string
	output   string

	catalog *regions.Catalog
	out     io.Writer
}

func newRegionsCmd() *cobra.Command {
	o := &regionsOptions{}
	cmd := &cobra.Command{
		Use:   "regions",
		Short: "List the regions and sovereign boundaries Meridian knows",
		Long: "List the embedded region catalog: for each region its cloud, boundary, name,\n" +
			"country, geography, paired regions, zone count (0 = unknown) and flags.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.cloud, "cloud", "", "only this cloud (aws, azure, gcp, local)")
	cmd.Flags().StringVar(&o.boundary, "boundary", "", "only this sovereign boundary (public, us-gov, china, …)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (o *regionsOptions) complete(cmd *cobra.Command) error {
	o.catalog = regions.Default()
	o.out = cmd.OutOrStdout()
	if o.output != "table" && o.output != "json" {
		return usageError{fmt.Errorf("unknown output format %q (want table or json)", o.output)}
	}
	if o.cloud != "" && !slices.Contains(o.catalog.Clouds(), o.cloud) {
		return usageError{fmt.Errorf("unknown cloud %q (want one of %s)", o.cloud, strings.Join(o.catalog.Clouds(), ", "))}
	}
	if o.boundary != "" {
		var known []string
		for _, b := range o.catalog.Boundaries() {
			if (o.cloud == "" || b.Cloud == o.cloud) && !slices.Contains(known, b.ID) {
				known = append(known, b.ID)
			}
		}
		if !slices.Contains(known, o.boundary) {
			slices.Sort(known)
			scope := ""
			if o.cloud != "" {
				scope = " in cloud " + o.cloud
			}
			return usageError{fmt.Errorf("unknown boundary %q%s (want one of %s)", o.boundary, scope, strings.Join(known, ", "))}
		}
	}
	return nil
}

func (o *regionsOptions) run(context.Context) error {
	var list []regions.Region
	for _, r := range o.catalog.Regions() {
		if (o.cloud == "" || r.Cloud == o.cloud) && (o.boundary == "" || r.Boundary == o.boundary) {
			list = append(list, r)
		}
	}
	if o.output == "json" {
		if list == nil {
			list = []regions.Region{}
		}
		return writeIndentedJSON(o.out, list)
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	w := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CLOUD\tBOUNDARY\tREGION\tNAME\tCOUNTRY\tGEO\tZONES\tPAIRED\tFLAGS")
	for _, r := range list {
		zones := "-"
		if r.Zones > 0 {
			zones = strconv.Itoa(r.Zones)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Cloud, r.Boundary, r.ID, r.Name, r.Country, r.Geo, zones, dash(strings.Join(r.Paired, ",")), dash(regionFlags(r)))
	}
	return w.Flush()
}

// regionFlags lists a region's restriction flags for the table.
func regionFlags(r regions.Region) string {
	var f []string
	if r.Restricted {
		f = append(f, "restricted")
	}
	if r.AirGapped {
		f = append(f, "air-gapped")
	}
	return strings.Join(f, ",")
}
