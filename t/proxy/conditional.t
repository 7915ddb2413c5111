# The request's conditions hold whichever way the backend's response ends.
# A response whose STDOUT stream ended but whose END_REQUEST never came
# (the backend closed instead: fcgi-misbehave's no-end) is complete, and
# is served as one: If-None-Match: * gives 304, If-Match: "nope" 412,
# exactly as for a backend that ends it properly (echo), never the 200
# with the body the conditions rule out.
#
# Through ProxyPass (vf_fault, /mb/) and, where the module's pools run,
# through a pool (vf_reuse_mb, /mbh/*.php, kept connections).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);

plan skip_all => 'fcgi-misbehave not built (make tools)' unless misbehave_available();

my @routes = (['vf_fault', '/mb/%s', 'ProxyPass']);
my $no_pools = pools_skip_reason() || ($ENV{VF_MB_REUSE_SOCK} ? undef : 'no VF_MB_REUSE_SOCK');
push @routes, ['vf_reuse_mb', '/mbh/%s.php', 'pool'];

# [request header, value, status]
my @conditions = (
    ['If-None-Match', '*',      304],
    ['If-Match',      '"nope"', 412],
);
plan tests => @routes * 2 * (2 + 2 * @conditions);

for my $route (@routes) {
    my ($vhost, $fmt, $via) = @$route;
  SKIP: {
        skip "$via: $no_pools", 2 * (2 + 2 * @conditions)
            if $vhost eq 'vf_reuse_mb' && $no_pools;
        for my $sc ('echo', 'no-end') {
            my $path = sprintf $fmt, $sc;
            my $what = "$sc via $via";
            my $res = raw_request($vhost, 'GET', $path, timeout => 30);
            is($res->{status}, 200, "$what, unconditional: 200");
            ok($res->{complete} && length $res->{body},
               "$what, unconditional: a complete body");
            for my $cond (@conditions) {
                my ($h, $v, $want) = @$cond;
                $res = raw_request($vhost, 'GET', $path, timeout => 30,
                                   headers => [$h => $v]);
                is($res->{status}, $want, "$what, $h: $v: $want")
                    or diag('got ' . ($res->{status} // 'no response')
                            . ', body ' . substr($res->{body} // '', 0, 80));
                is($res->{body_len}, 0, "$what, $h: $v: no body");
            }
        }
    }
}
