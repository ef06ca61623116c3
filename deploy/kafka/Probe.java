// Probe checks that a broker started by kafka.sh answers a metadata request on
// its PLAINTEXT listener and, logged in with SCRAM-SHA-512 over TLS checked
// against the test CA, on its SASL_SSL listener, then has the group
// coordinator brought up. kafka.sh compiles it once against the cached
// kafka-clients jar and runs it as its readiness check.
//
//   java -cp 'LIB/*:CLASSES' Probe PLAIN_ADDR SASL_ADDR USER PASSWORD CA_PEM [SECONDS]
//
// It retries for up to SECONDS (default 10) in one JVM, since a JVM start
// costs seconds on a busy 2-core machine, but gives up at once on a refused
// login or TLS handshake: those do not fix themselves. Exit status 0 when
// both listeners answer, 3 when a login or handshake was refused, 1 for
// anything else (the reason goes to stderr).

import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.common.errors.AuthenticationException;

public class Probe {
    public static void main(String[] args) throws InterruptedException {
        if (args.length < 5 || args.length > 6) {
            System.err.println("usage: Probe PLAIN_ADDR SASL_ADDR USER PASSWORD CA_PEM [SECONDS]");
            System.exit(2);
        }
        long seconds = args.length == 6 ? Long.parseLong(args[5]) : 10;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);

        Properties plain = base(args[0]);
        Properties sasl = base(args[1]);
        sasl.put("security.protocol", "SASL_SSL");
        sasl.put("sasl.mechanism", "SCRAM-SHA-512");
        sasl.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
                + "username=\"" + args[2] + "\" password=\"" + args[3] + "\";");
        sasl.put("ssl.truststore.type", "PEM");
        sasl.put("ssl.truststore.location", args[4]);

        int status = check(plain, deadline);
        if (status == 0) {
            status = check(sasl, deadline);
        }
        if (status == 0) {
            status = warmGroups(plain, deadline);
        }
        System.exit(status);
    }

    // warmGroups looks up a group's coordinator, which makes the broker create
    // __consumer_offsets now. Otherwise the tests' first consumer group finds
    // no coordinator and waits out its client's join backoff (5 s in kafka-go).
    private static int warmGroups(Properties p, long deadline) throws InterruptedException {
        try (Admin admin = Admin.create(p)) {
            while (true) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                int timeout = (int) Math.max(1000, Math.min(left, 10_000));
                try {
                    admin.listConsumerGroupOffsets("kafka-sh-warmup",
                            new ListConsumerGroupOffsetsOptions().timeoutMs(timeout))
                            .partitionsToOffsetAndMetadata().get();
                    return 0;
                } catch (ExecutionException e) {
                    if (left <= 0) {
                        System.err.println("group coordinator: " + e.getCause());
                        return 1;
                    }
                }
                Thread.sleep(100);
            }
        }
    }

    private static int check(Properties p, long deadline) throws InterruptedException {
        String addr = p.getProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG);
        try (Admin admin = Admin.create(p)) {
            while (true) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                int timeout = (int) Math.max(1000, Math.min(left, 10_000));
                try {
                    String id = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeout))
                            .clusterId().get();
                    System.out.println(addr + ": cluster " + id);
                    return 0;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof AuthenticationException) {
                        System.err.println(addr + ": " + e.getCause());
                        return 3;
                    }
                    if (left <= 0) {
                        System.err.println(addr + ": " + e.getCause());
                        return 1;
                    }
                }
                Thread.sleep(250);
            }
        }
    }

    private static Properties base(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
        // Reconnect to a broker that is still starting every 0.5 s, not with
        // the default backoff of up to 1 s.
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        return p;
    }
}
