vcl 4.1;

# Varnish in front of VeilGram (the seed's MinIO + Varnish): stored media under /media/ is
# cached for as long as VeilGram says (a year, immutable: keys never change content), Range
# and If-None-Match are answered from the cache; everything else passes straight through.
#
#   varnishd -f /etc/varnish/veilgram.vcl -a :6081 -s malloc,1G
#
# Privacy: Varnish's shared-memory log holds client addresses; do not run varnishncsa (or run
# it with a format that leaves %h out), in keeping with VeilGram's logs.

backend veilgram {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
}

sub vcl_recv {
    if (req.url ~ "^/media/m[0-9a-f]+\.[a-z0-9]+$" && (req.method == "GET" || req.method == "HEAD")) {
        # Media is public and the same for everyone: nothing of the caller takes part.
        unset req.http.Cookie;
        unset req.http.Authorization;
        return (hash);
    }
    return (pass);
}

sub vcl_backend_response {
    if (bereq.url ~ "^/media/") {
        if (beresp.status == 200) {
            set beresp.do_stream = true;
        } else {
            # A missing file is remembered briefly, never for long.
            set beresp.ttl = 10s;
            set beresp.uncacheable = true;
        }
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
