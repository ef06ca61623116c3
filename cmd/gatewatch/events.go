package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
)

const eventsHelp = `Print the events on the events topic as JSON lines (docs/wire-format.md),
whatever encoding the collectors write (kafka.wire: binary or json): what
"kcat | jq" shows of a JSON topic. It reads without a consumer group, so it
commits nothing and takes nothing from the detectors. Messages that do not
decode are reported on stderr with their partition and offset.

Examples:
  gatewatch events --config gatewatch.yaml --since 5m
  gatewatch events --config gatewatch.yaml --follow --client 203.0.113.7
  gatewatch events --config gatewatch.yaml --since 1h | jq -r .route | sort | uniq -c | sort -rn`

func (c *cli) events(ctx context.Context, args []string) error {
	fs := c.newFlags("events", "[flags]", eventsHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	since := fs.Duration("since", 0, "start at events written this long ago (default: the oldest kept)")
	follow := fs.Bool("follow", false, "keep printing new events until interrupted")
	client := fs.String("client", "", "print only this client's events (its key, as in findings)")
	topic := fs.String("topic", "", "topic to read (default kafka.topics.events)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
	}
	kc, err := c.kafkaConfig(cfg)
	if err != nil {
		return err
	}
	if *topic == "" {
		*topic = cfg.Kafka.Topics.Events
	}
	out := bufio.NewWriter(c.stdout)
	var printed, bad int
	var line []byte
	err = kc.TailEvents(ctx, *topic, transport.TailOptions{Since: *since, Follow: *follow}, func(m transport.Tailed) error {
		if m.Err != nil {
			bad++
			fmt.Fprintf(c.stderr, "gatewatch events: partition %d offset %d: %v\n", m.Partition, m.Offset, m.Err)
			return nil
		}
		if *client != "" && m.Event.ClientKey != *client {
			return nil
		}
		printed++
		line = append(ingest.AppendWire(line[:0], m.Event), '\n')
		if _, err := out.Write(line); err != nil {
			return err
		}
		if *follow { // a person is watching: show each as it comes
			return out.Flush()
		}
		return nil
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	fmt.Fprintf(c.stderr, "gatewatch events: %d events printed, %d messages that did not decode (%s, %s)\n",
		printed, bad, *topic, time.Now().UTC().Format(time.RFC3339))
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
