# /missing.php is a plain 404 from httpd, and the backend is never
# contacted: php-fpm's access log of the pool has no line for it.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }

my @paths = ('/missing.php', '/missing.php?x=1', '/missing.php/extra/path',
             '/nodir/missing.php', '/uploads/missing.php');
plan tests => 2 * @paths * 2 + 2 * 3;

for my $site (['vf_site_a', 'site-a'], ['vf_site_b', 'site-b']) {
    my ($vhost, $pool) = @$site;
    my $mark = access_mark($pool);
    for my $path (@paths) {
        my $res = raw_request($vhost, 'GET', $path);
        is($res->{status}, 404, "$vhost $path: 404");
        like($res->{body}, qr/Not Found/, "$vhost $path: httpd's own 404 page, not the backend's")
            or diag($res->{body});
    }
    my $h = raw_request($vhost, 'HEAD', '/missing.php');
    is($h->{status}, 404, "$vhost HEAD /missing.php: 404");
    my $log = access_settle($vhost, $pool, $mark);
    ok(defined $log, "$pool: the access log shows the sentinel request");
    my @hits = (map { access_lines_for($log, $_) } '/missing.php', '/nodir/', '/uploads/missing.php');
    is(scalar @hits, 0, "$pool: php-fpm never saw a request for a missing script")
        or diag(join "\n", @hits);
}
