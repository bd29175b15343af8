package workflows

import (
	"context"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// The search attributes every Meridian workflow carries (all Keyword; the
// SQLite visibility store allows at most 10 per namespace). Release sets
// service, change id, trigger and phase; Pipeline and Stage add cloud,
// boundary, environment and stage.
var (
	AttrService     = temporal.NewSearchAttributeKeyKeyword("MeridianService")
	AttrEnvironment = temporal.NewSearchAttributeKeyKeyword("MeridianEnvironment")
	AttrCloud       = temporal.NewSearchAttributeKeyKeyword("MeridianCloud")
	AttrBoundary    = temporal.NewSearchAttributeKeyKeyword("MeridianBoundary")
	AttrStage       = temporal.NewSearchAttributeKeyKeyword("MeridianStage")
	AttrPhase       = temporal.NewSearchAttributeKeyKeyword("MeridianPhase")
	AttrChangeID    = temporal.NewSearchAttributeKeyKeyword("MeridianChangeID")
	AttrTrigger     = temporal.NewSearchAttributeKeyKeyword("MeridianTrigger")
)

// SearchAttributes lists them all, for a server to register.
var SearchAttributes = []temporal.SearchAttributeKeyKeyword{
	AttrService, AttrEnvironment, AttrCloud, AttrBoundary, AttrStage, AttrPhase, AttrChangeID, AttrTrigger,
}

// RegisterSearchAttributes adds the search attributes to a namespace; ones
// already registered are left alone.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	add := map[string]enums.IndexedValueType{}
	for _, k := range SearchAttributes {
		if _, ok := have.GetCustomAttributes()[k.GetName()]; !ok {
			add[k.GetName()] = enums.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(add) == 0 {
		return nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: add}); err != nil {
		return fmt.Errorf("register search attributes in %s: %w", namespace, err)
	}
	return nil
}
