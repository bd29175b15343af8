// Package fakecloud hands the stateful fakes of the clouds' APIs, which
// Meridian's drivers are tested against in-process, to programs that run
// Meridian's real worker processes against them over loopback: the soak
// (cmd/meridian-soak) starts them, points each boundary's endpoint setting
// at one, and checks the outcome of every release from their state. It
// adds nothing to the fakes but this reach.
package fakecloud

import "github.com/meridian-deploy/meridian/providers/internal/awsfake"

// AWS is a fake of ECS, AppConfig, CloudWatch, Secrets Manager and STS on
// one loopback endpoint (see package providers/internal/awsfake).
type AWS = awsfake.Server

// NewAWS starts an AWS fake on 127.0.0.1. Close it when done.
func NewAWS() *AWS { return awsfake.New() }

// CloudWatch alarm states.
const (
	AlarmOK     = awsfake.AlarmOK
	AlarmFiring = awsfake.AlarmFiring
)
