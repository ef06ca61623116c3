// OsNode runs one embedded OpenSearch node for gatewatch's integration
// tests: org.opensearch.node.Node with the Netty4 HTTP transport and the
// common analysis plugin, bound to 127.0.0.1, single-node discovery, no
// security plugin (plain HTTP, no login). It runs as root, unlike the
// distribution's bin/opensearch.
//
//   java -cp 'classes:lib/*' OsNode HOME HTTP_PORT TRANSPORT_PORT
//
// HOME holds config/, data/ and logs/; a restart with the same HOME keeps
// the indices. SIGTERM closes the node cleanly.
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

public class OsNode {
  // Node's constructor that takes classpath plugins is protected.
  static class EmbeddedNode extends Node {
    EmbeddedNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
      super(env, plugins, true);
    }
  }

  public static void main(String[] args) throws Exception {
    Path home = Paths.get(args[0]).toAbsolutePath();
    Files.createDirectories(home.resolve("config"));
    Settings settings = Settings.builder()
        .put("path.home", home.toString())
        .put("cluster.name", "gatewatch-test")
        .put("node.name", "gatewatch-test-0")
        .put("network.host", "127.0.0.1")
        .put("http.port", args[1])
        .put("transport.port", args[2])
        .put("discovery.type", "single-node")
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .put("action.auto_create_index", true)
        .build();
    LogConfigurator.configureWithoutConfig(settings);
    Environment env = InternalSettingsPreparer.prepareEnvironment(
        settings, Map.of(), home.resolve("config"), () -> "gatewatch-test-0");
    Node node = new EmbeddedNode(env, List.of(
        org.opensearch.transport.Netty4Plugin.class,
        org.opensearch.analysis.common.CommonAnalysisPlugin.class));
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (Exception e) {
        e.printStackTrace();
      }
      done.countDown();
    }));
    node.start();
    System.out.println("READY");
    done.await();
  }
}
