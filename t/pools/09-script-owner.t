# VhostFcgiScriptOwner pool (vhost vf_site_a_owner, pool site-a: user
# vf-php-a, group vf-site-a from the pools file): a script whose group is
# another site's (foreign.php, root:vf-site-b) is refused with 403 and never
# reaches php-fpm; the site's own scripts (group vf-site-a, or owned by
# vf-php-a) run.  Without the directive (vf_site_a) the same file is sent
# to the pool.  With VhostFcgiCheckScript Off (owner-off/) the owner is
# checked all the same (it was not: foreign.php was sent to the pool).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = isolation_skip_reason()) { plan skip_all => $why }
plan tests => 4 + 2 + 2 + 3 + 4;

my $doc = site_doc('a');
my @st = stat "$doc/foreign.php";
is(scalar getgrgid($st[5]), $ENV{VF_SITE_B_GROUP}, 'fixture: foreign.php belongs to site B\'s group');

my $mark = access_mark('site-a');
my $lmark = log_mark();
my $res = raw_request('vf_site_a_owner', 'GET', '/foreign.php');
is($res->{status}, 403, 'VhostFcgiScriptOwner pool: a script of another site\'s group: 403');
ok(!marker_ran($res, 'FOREIGN-RAN'), 'VhostFcgiScriptOwner pool: it did not run');
my $logged = log_wait_for($lmark, qr/foreign\.php/, 3);
ok($logged, 'the refusal is logged with the file name') or diag(log_since($lmark));
note($_) for grep { /foreign/ } split /\n/, $logged;

my ($r2, $env) = get_env('vf_site_a_owner', '/s.php');
is($r2->{status}, 200, 'VhostFcgiScriptOwner pool: the site\'s own script (group vf-site-a) runs');
is($env->{X_SCRIPT}, 's.php', 'VhostFcgiScriptOwner pool: s.php ran');
my $r3 = raw_request('vf_site_a_owner', 'GET', '/uploads/x.php');
is($r3->{status}, 200, 'VhostFcgiScriptOwner pool: a script owned by vf-php-a runs');
ok(marker_ran($r3, 'UPLOADX-RAN'), 'VhostFcgiScriptOwner pool: uploads/x.php ran');

# Control: with VhostFcgiScriptOwner any (vf_site_a) foreign.php goes to
# the pool (where site A's PHP cannot read it).
my $r4 = raw_request('vf_site_a', 'GET', '/foreign.php');
my $log = access_settle('vf_site_a', 'site-a', $mark);
ok(defined $log, "site-a's access log shows the sentinel request");
my @hits = access_lines_for($log, '/foreign.php');
is(scalar @hits, 1, 'only the request without VhostFcgiScriptOwner pool reached php-fpm')
    or diag(join "\n", @hits);
ok(!marker_ran($r4, 'FOREIGN-RAN'), "without it, site A's PHP still cannot run site B's file ($r4->{status})");

{
    my $lmark = log_mark();
    my $res = raw_request('vf_site_a_owner', 'GET', '/owner-off/foreign.php');
    is($res->{status}, 403, 'CheckScript Off: a script of another site\'s group: 403');
    ok(!marker_ran($res, 'FOREIGN-RAN'), 'CheckScript Off: it did not run');
    like(log_wait_for($lmark, qr/AH10681: .*owner-off\/foreign\.php/, 3) // '',
         qr/AH10681/, 'CheckScript Off: the refusal is logged');
    my $own = raw_request('vf_site_a_owner', 'GET', '/owner-off/own.php');
    ok(marker_ran($own, 'OWN-RAN'), 'CheckScript Off: the site\'s own script runs')
        or diag("$own->{status} $own->{body}");
}
