// Package placement loads a placement spec (a directory of CUE files of one
// package) against the embedded schema and compiles it, with the regions
// catalog, into a Model: environments, boundary rules, pipelines and services
// with their targets, sorted by name so that it does not depend on file names
// or order.
//
// Load and Compile are pure: they read the spec directory and nothing else.
// Every problem they find is an Error with the file, line and column it comes
// from; all of them are reported together, as Errors. docs/spec.md is the
// reference for the spec language and the checks.
package placement
