public enum OTAClientPlaceholder {}
