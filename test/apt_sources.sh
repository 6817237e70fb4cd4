# test/apt_sources.sh -- sourced: the Debian mirrors this machine's apt already uses,
# so nothing here names a host (test/fresh/check.sh, test/cluster/image-membudget).
# Prints "URI SUITE" for every enabled Debian source (one-line and deb822 forms).
apt_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+).*/\2 \3/p' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'function flush() { if (uris != "" && types ~ /(^| )deb( |$)/ && enabled != "no")
                                  { n = split(uris, u, " "); m = split(suites, s, " ");
                                    for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j] }
                                uris = suites = types = ""; enabled = "" }
             /^[[:space:]]*$/ { flush(); next }
             /^[[:space:]]*#/ { next }
             { key = tolower($1); sub(/:$/, "", key); $1 = "" ; sub(/^ /, "")
               if (key == "uris") uris = $0; else if (key == "suites") suites = $0;
               else if (key == "types") types = $0; else if (key == "enabled") enabled = tolower($0) }
             END { flush() }' "$f"
    done
}
# apt_mirror SUITE: the first enabled mirror for SUITE (empty when none).
apt_mirror() {
    apt_sources | awk -v s="$1" '$2 == s { print $1; exit }'
}
