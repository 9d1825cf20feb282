// Command notify-tx tells transientd that the coin node's wallet saw a
// transaction. Run it from the node's walletnotify:
//
//	walletnotify=/usr/local/bin/notify-tx DOGE %s
//	walletnotify=/usr/local/bin/notify-tx LTC %s %w   (nodes with several wallets)
//
// Settings: -url/-token flags, a -config file, or TRANSIENT_URL and
// NOTIFY_TOKEN in the environment. See package hookclient.
package main

import "github.com/transient-gateway/transient/internal/hookclient"

func main() { hookclient.Exit(hookclient.Tx) }
