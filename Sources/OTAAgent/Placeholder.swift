public enum OTAAgentPlaceholder {}
