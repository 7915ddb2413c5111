# More parameters than one FastCGI record holds (64 KB): PHP parses each
# FCGI_PARAMS record on its own and refuses a name-value pair cut across
# two, so the records carry whole pairs only.  Twelve 7000-byte headers
# reach the script intact, through a pool and through the drop-in.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 2 * 3;

my @headers = map { ("X-Big-$_" => chr(ord('a') + $_) x 7000) } 1 .. 12;

for my $c (['vf_site_a', '/s.php', 'pool'], ['vf_unix', '/php/env.php', 'drop-in']) {
    my ($module, $path, $what) = @$c;
    my ($res, $env) = get_env($module, $path, headers => \@headers);
    is($res->{status}, 200, "$what: 84 KB of headers: 200") or diag(substr($res->{body}, 0, 300));
    my @seen = grep { ($env->{"HTTP_X_BIG_$_"} // '') eq chr(ord('a') + $_) x 7000 } 1 .. 12;
    is(scalar @seen, 12, "$what: all 12 headers reached the script");
    ok(length($env->{SCRIPT_FILENAME} // '') > 0, "$what: and the script's own variables");
}
