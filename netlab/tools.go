package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Missing says why the lab cannot run on this machine (not root, or ip, tc,
// nft or Chromium missing), or returns nil.
func Missing() error {
	if os.Geteuid() != 0 {
		return errors.New("netlab: needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "tc", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("netlab: %s not found (apt-get install iproute2 nftables): %w", tool, err)
		}
	}
	if _, err := os.Stat(ChromiumPath); err != nil {
		return fmt.Errorf("netlab: no Chromium at %s: %w", ChromiumPath, err)
	}
	return nil
}
