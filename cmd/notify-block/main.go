// Command notify-block tells transientd that the coin node has a new best
// block. Run it from the node's blocknotify:
//
//	blocknotify=/usr/local/bin/notify-block DOGE %s
//
// Settings: -url/-token flags, a -config file, or TRANSIENT_URL and
// NOTIFY_TOKEN in the environment. See package hookclient.
package main

import "github.com/transient-gateway/transient/internal/hookclient"

func main() { hookclient.Exit(hookclient.Block) }
