package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// errNoTopic: the topic does not exist (yet).
var errNoTopic = errors.New("topic does not exist")

// kafkaAdmin is the cluster-side work of a Store besides reading and
// committing: topic metadata and creation, a group's assignment, and the
// one-time copy of a legacy group's offsets.
type kafkaAdmin struct {
	client *kafka.Client
	// create allows CreateTopics for a missing topic, with partitions
	// (0: as many as reference has, else the broker's default) and the
	// broker's default replication factor.
	create     bool
	partitions int
	reference  string
}

// partitions returns how many partitions topic has, errNoTopic when it
// does not exist. The metadata request never creates the topic.
func (a *kafkaAdmin) topicPartitions(ctx context.Context, topic string) (int, error) {
	md, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		switch {
		case t.Name != topic:
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			return 0, errNoTopic
		case t.Error != nil:
			return 0, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		case len(t.Partitions) == 0:
			return 0, errNoTopic
		default:
			return len(t.Partitions), nil
		}
	}
	return 0, errNoTopic
}

// ensureTopic returns topic's partition count, creating the topic first
// when it is missing and creation is allowed (created says it was). A
// missing topic that was not created is errNoTopic, wrapped with why.
func (a *kafkaAdmin) ensureTopic(ctx context.Context, topic string) (n int, created bool, err error) {
	n, err = a.topicPartitions(ctx, topic)
	if !errors.Is(err, errNoTopic) || !a.create {
		return n, false, err
	}
	parts := a.partitions
	if parts <= 0 {
		parts = -1 // the broker's num.partitions
		if a.reference != "" && a.reference != topic {
			if ref, err := a.topicPartitions(ctx, a.reference); err == nil {
				parts = ref
			}
		}
	}
	res, err := a.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: parts, ReplicationFactor: -1},
	}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return 0, false, fmt.Errorf("%w (creating it failed: %w)", errNoTopic, err)
	}
	created = err == nil
	n, err = a.topicPartitions(ctx, topic)
	return n, created && err == nil, err
}

// assigned returns how many partitions of topic the members of group hold
// now, from the coordinator's view of the group.
func (a *kafkaAdmin) assigned(ctx context.Context, group, topic string) (int, error) {
	res, err := a.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	n := 0
	for _, g := range res.Groups {
		if g.Error != nil {
			return 0, fmt.Errorf("describe group %s: %w", group, g.Error)
		}
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == topic {
					n += len(t.Partitions)
				}
			}
		}
	}
	return n, nil
}

// adoptOffsets gives group, when it has committed nothing for topic, the
// offsets legacy committed for it: a deployment that used to read every
// topic as one shared group carries on where it stopped instead of
// reading the topic again from its oldest message. It returns how many
// partitions' offsets it copied (0: group had its own, or legacy had
// none). It fails if group has members already, which then read from
// the group's own position.
func (a *kafkaAdmin) adoptOffsets(ctx context.Context, legacy, group, topic string, partitions int) (int, error) {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	own, err := a.committed(ctx, group, topic, ids)
	if err != nil || len(own) > 0 {
		return 0, err
	}
	old, err := a.committed(ctx, legacy, topic, ids)
	if err != nil || len(old) == 0 {
		return 0, err
	}
	req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for p, off := range old {
		req.Topics[topic] = append(req.Topics[topic], kafka.OffsetCommit{Partition: p, Offset: off})
	}
	res, err := a.client.OffsetCommit(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("copy offsets of %s from group %s to %s: %w", topic, legacy, group, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("copy offsets of %s from group %s to %s: partition %d: %w", topic, legacy, group, p.Partition, p.Error)
		}
	}
	return len(old), nil
}

// committed returns group's committed offsets of topic's partitions ids,
// leaving out those without one.
func (a *kafkaAdmin) committed(ctx context.Context, group, topic string, ids []int) (map[int]int64, error) {
	res, err := a.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s on %s: %w", group, topic, err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offsets of group %s on %s partition %d: %w", group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}
