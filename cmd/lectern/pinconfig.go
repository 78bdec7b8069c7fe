package main

import (
	"fmt"
	"strconv"
)

// pinConfig is how PIN joins are limited (api.Config, docs/security.md "PIN
// guessing").
type pinConfig struct {
	// FailuresPerAddr: wrong PINs one address may send for one room a minute.
	FailuresPerAddr int `yaml:"join_failures_per_addr"`
	// FailuresPerRoom: wrong PINs for one room a minute that make a flood.
	FailuresPerRoom int `yaml:"join_failures_per_room"`
	// FloodChecksPerSecond: PIN checks a second a flooded room allows.
	FloodChecksPerSecond float64 `yaml:"flood_pin_checks_per_second"`
	// JoinsPerAddr: PIN joins, right PINs included, one address may make a minute.
	JoinsPerAddr int `yaml:"joins_per_addr"`
}

func defaultPINConfig() pinConfig {
	return pinConfig{FailuresPerAddr: 5, FailuresPerRoom: 50, FloodChecksPerSecond: 1, JoinsPerAddr: 30}
}

// wholeNumber parses v into the int that at returns.
func wholeNumber(at func(*config) *int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*at(c) = n
		return nil
	}
}

func init() {
	settings = append(settings,
		setting{"join_failures_per_addr", "LECTERN_JOIN_FAILURES_PER_ADDR", "join-failures-per-addr", "wrong PINs an address may send for one room a minute before 429",
			wholeNumber(func(c *config) *int { return &c.PINs.FailuresPerAddr })},
		setting{"join_failures_per_room", "LECTERN_JOIN_FAILURES_PER_ROOM", "join-failures-per-room", "wrong PINs for one room a minute, from all addresses, that meter its PIN checks and alert its moderators",
			wholeNumber(func(c *config) *int { return &c.PINs.FailuresPerRoom })},
		setting{"flood_pin_checks_per_second", "LECTERN_FLOOD_PIN_CHECKS_PER_SECOND", "flood-pin-checks-per-second", "PIN checks a second a room under a PIN-guessing flood allows", func(c *config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			c.PINs.FloodChecksPerSecond = f
			return nil
		}},
		setting{"joins_per_addr", "LECTERN_JOINS_PER_ADDR", "joins-per-addr", "PIN joins, right PINs included, an address may make a minute before 429",
			wholeNumber(func(c *config) *int { return &c.PINs.JoinsPerAddr })},
	)
}
