import Hummingbird
import GRDB
import Prometheus
import Logging
public enum OTAServerPlaceholder { public static let n = EmbeddedResources.migrations.count }
