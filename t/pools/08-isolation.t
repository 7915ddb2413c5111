# Each site's PHP runs as its own user (pools site-a / site-b, users
# vf-php-a / vf-php-b), so site A's PHP cannot read site B's files
# (file_get_contents of B's path fails), while site B's PHP can -- and the
# other way round.  httpd itself, a member of both groups, serves both
# sites' static files.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = isolation_skip_reason()) { plan skip_all => $why }
plan tests => 2 * 2 + 2 + 5 * 2 + 2;

my $a_doc = site_doc('a');
my $b_doc = site_doc('b');

# Who runs each site's PHP.
for my $site (['vf_site_a', 'a', $ENV{VF_SITE_A_USER}], ['vf_site_b', 'b', $ENV{VF_SITE_B_USER}]) {
    my ($vhost, $s, $user) = @$site;
    my ($res, $env) = get_env($vhost, '/s.php');
    my $uid = getpwnam($user);
    is($res->{status}, 200, "site $s: s.php answers");
    is($env->{X_UID}, $uid, "site $s: PHP runs as $user (uid $uid)");
}
isnt(getpwnam($ENV{VF_SITE_A_USER}), getpwnam($ENV{VF_SITE_B_USER}), 'the two sites have different PHP users');
isnt(scalar getgrnam($ENV{VF_SITE_A_GROUP}), scalar getgrnam($ENV{VF_SITE_B_GROUP}),
     'the two sites have different groups');

sub read_as {
    my ($vhost, $file) = @_;
    my ($res, $env) = get_env($vhost, "/read.php?f=$file");
    return ($res, $env);
}
# [vhost, file, expected read result, expected content]
my @cases = (
    ['vf_site_a', "$b_doc/secret.txt", 'FAIL', undef,             "site A's PHP reads site B's secret.txt"],
    ['vf_site_a', "$b_doc/s.php",      'FAIL', undef,             "site A's PHP reads site B's s.php"],
    ['vf_site_b', "$b_doc/secret.txt", 'OK',   'SITE-B-SECRET ', "site B's PHP reads its own secret.txt"],
    ['vf_site_b', "$a_doc/secret.txt", 'FAIL', undef,             "site B's PHP reads site A's secret.txt"],
    ['vf_site_a', "$a_doc/secret.txt", 'OK',   'SITE-A-SECRET ', "site A's PHP reads its own secret.txt"],
);
for my $c (@cases) {
    my ($vhost, $file, $want, $content, $what) = @$c;
    my ($res, $env) = read_as($vhost, $file);
    is($env->{X_READ}, $want, "$what: " . ($want eq 'OK' ? 'succeeds' : 'fails'))
        or diag("$res->{status}: $res->{body}");
    if (defined $content) {
        is($env->{X_CONTENT}, $content, "$what: the content");
    }
    else {
        like($env->{X_ERROR} // '', qr/Permission denied|failed to open/i, "$what: permission denied")
            or diag($env->{X_ERROR});
    }
}

# httpd serves both sites' static files (it is in both groups).
is(raw_request('vf_site_a', 'GET', '/secret.txt')->{status}, 200, 'httpd serves site A\'s files');
is(raw_request('vf_site_b', 'GET', '/page.html')->{status}, 200, 'httpd serves site B\'s files');
