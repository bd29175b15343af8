// Package searchattr names the search attributes every Meridian workflow
// carries and registers them in a namespace. It is a leaf that both the
// workflows and the embedded server (workflows/devserver) import: it pulls
// in neither CUE nor the Temporal server.
//
// All are Keyword; the SQLite visibility store allows at most 10 per
// namespace. A Release sets service, change id, trigger and phase; a
// Pipeline adds cloud, boundary, environment and stage.
package searchattr

import (
	"context"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/temporal"
)

var (
	Service     = temporal.NewSearchAttributeKeyKeyword("MeridianService")
	Environment = temporal.NewSearchAttributeKeyKeyword("MeridianEnvironment")
	Cloud       = temporal.NewSearchAttributeKeyKeyword("MeridianCloud")
	Boundary    = temporal.NewSearchAttributeKeyKeyword("MeridianBoundary")
	Stage       = temporal.NewSearchAttributeKeyKeyword("MeridianStage")
	Phase       = temporal.NewSearchAttributeKeyKeyword("MeridianPhase")
	ChangeID    = temporal.NewSearchAttributeKeyKeyword("MeridianChangeID")
	Trigger     = temporal.NewSearchAttributeKeyKeyword("MeridianTrigger")
)

// All lists Meridian's search attributes.
var All = []temporal.SearchAttributeKeyKeyword{Service, Environment, Cloud, Boundary, Stage, Phase, ChangeID, Trigger}

// Types maps each of All to its indexed value type, as a namespace
// registers them.
func Types() map[string]enums.IndexedValueType {
	types := make(map[string]enums.IndexedValueType, len(All))
	for _, k := range All {
		types[k.GetName()] = enums.INDEXED_VALUE_TYPE_KEYWORD
	}
	return types
}

// Register adds to namespace the attributes of types it lacks; ones
// already registered are left alone.
func Register(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string, types map[string]enums.IndexedValueType) error {
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enums.IndexedValueType{}
	for name, typ := range types {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		return fmt.Errorf("register search attributes in %s: %w", namespace, err)
	}
	return nil
}
