# Symlinks from site A's docroot into site B's obey Options: with
# FollowSymLinks off, and with SymLinksIfOwnerMatch (the links belong to
# site A's PHP user, their targets to the admin), httpd refuses them (403)
# -- for a static file as for a script -- and the backend is never
# contacted.  With FollowSymLinks on, httpd (a member of both sites'
# groups) follows the link to the static page, and a linked script still
# cannot run as site A: site A's PHP cannot read site B's files.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = isolation_skip_reason()) { plan skip_all => $why }
plan tests => 6 + 4 + 4 + 3;

my $mark = access_mark('site-a');
for my $dir ('links-nofollow', 'links-ownermatch') {
    for my $f ('b-page.html', 'b-script.php') {
        my $res = raw_request('vf_site_a', 'GET', "/$dir/$f");
        is($res->{status}, 403, "$dir: symlink $f into site B: 403");
        ok($res->{body} !~ /SITE-B-PAGE|SCRIPT-RAN/, "$dir: $f: nothing of site B")
            or diag($res->{body});
    }
}
{
    my $res = raw_request('vf_site_a', 'GET', '/links-nofollow/own-page.html');
    is($res->{status}, 403, 'links-nofollow: even a link to site A\'s own page: 403');
    $res = raw_request('vf_site_a', 'GET', '/links-ownermatch/own-page.html');
    is($res->{status}, 200, 'links-ownermatch: a link owned like its target is followed (200)');
}
{
    my $res = raw_request('vf_site_a', 'GET', '/links-follow/b-page.html');
    is($res->{status}, 200, 'links-follow (FollowSymLinks): the static page is served');
    like($res->{body}, qr/SITE-B-PAGE/, 'links-follow: httpd followed the link');
    $res = raw_request('vf_site_a', 'GET', '/links-follow/b-script.php');
    isnt($res->{status}, 200, "links-follow: site B's script via the link: not 200 ($res->{status})");
    ok(!marker_ran($res, 'SCRIPT-RAN'), "links-follow: site A's PHP could not run site B's script")
        or diag($res->{body});
}

my $log = access_settle('vf_site_a', 'site-a', $mark);
ok(defined $log, "site-a's access log shows the sentinel request");
my @hits = (access_lines_for($log, '/links-nofollow'), access_lines_for($log, '/links-ownermatch'));
is(scalar @hits, 0, 'the refused links never reached php-fpm') or diag(join "\n", @hits);
my @follow = access_lines_for($log, '/links-follow/b-script.php');
note("links-follow/b-script.php at php-fpm: $_") for @follow;
ok(@follow <= 1, 'links-follow/b-script.php reached php-fpm at most once');
