# What routes a request to FastCGI, and what cannot:
#  - where VhostFcgiPool applies, the pool wins over a FastCGI handler set
#    for the same scope, by the server configuration or by a tenant's
#    .htaccess naming another site's socket: the script runs as its own
#    site's user, and nothing reaches the other socket;
#  - the pool's handler name, set by a tenant (SetHandler vhostfcgi-pool),
#    is no pass through the script check;
#  - an .htaccess rewrite from one existing script to another runs the
#    other (the pending internal redirect is left alone);
#  - a file named as PHP runs it (x.phtml, x.PHP) that is not a script
#    here gets 403, not its source (also with the check off, where a
#    FastCGI handler the pool overrode would have run it);
#  - a drop-in balancer of fcgi:// members, or an upper-case FCGI://
#    handler, gets the script check too: a GIF under such a directory-wide
#    handler is a file, not a request to php-fpm.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 21;

my $doc = site_doc('a');
my $a_uid = getpwnam($ENV{VF_SITE_A_USER} // '') // -1;

# --- the pool wins ---------------------------------------------------------
{
    my ($res, $env) = get_env('vf_site_a', '/dropin-other/who.php');
    is($res->{status}, 200, 'server-config SetHandler to site B\'s socket: the script runs');
    is($env->{X_UID}, $a_uid, '... as site A\'s user (pool site-a wins)')
        or diag($res->{body});
}
{
    # What a tenant with AllowOverride FileInfo writes.
    my $ht = "$doc/tenant-handler/.htaccess";
    open my $fh, '>', $ht or die "$ht: $!";
    print $fh qq{<Files "who.php">\nSetHandler "proxy:unix:$ENV{VF_SITE_B_SOCK}|fcgi://localhost"\n</Files>\n};
    close $fh;
    chmod 0644, $ht;
    my $mark = access_mark('site-b');
    my ($res, $env) = get_env('vf_site_a', '/tenant-handler/who.php');
    is($res->{status}, 200, '.htaccess SetHandler to site B\'s socket: the script runs');
    is($env->{X_UID}, $a_uid, '... as site A\'s user, not site B\'s')
        or diag($res->{body});
    my $log = access_settle('vf_site_b', 'site-b', $mark);
    ok(defined $log, "site-b's access log shows the sentinel request");
    is(scalar access_lines_for($log, '/tenant-handler/'), 0,
       'site B\'s pool never saw the request') if defined $log;
    pass('(no access log to look at)') unless defined $log;
    unlink $ht;
}

# --- the pool's handler name is no pass ------------------------------------
{
    my $res = raw_request('vf_site_a', 'GET', '/tenant-poolhandler/evil.gif');
    ok(!evil_ran($res), '.htaccess SetHandler vhostfcgi-pool on a GIF: not run')
        or diag($res->{body});
    is($res->{status}, 200, '... the GIF is served as a file');
}

# --- an .htaccess rewrite between two scripts ------------------------------
{
    my $res = raw_request('vf_site_a', 'GET', '/tenant-rw/old.php');
    is($res->{status}, 200, '.htaccess RewriteRule old.php -> new.php: 200')
        or diag($res->{body});
    ok(marker_ran($res, 'NEW-RAN'), '... new.php ran');
    ok(!marker_ran($res, 'OLD-RAN'), '... old.php did not');
}

# --- named as PHP, not a script here: 403, not the source -------------------
for my $c (['/conf.phtml', 'PHTML-SOURCE-SECRET'], ['/x.PHP', 'XUPPER-']) {
    my ($path, $text) = @$c;
    my $mark = log_mark();
    my $res = raw_request('vf_site_a', 'GET', $path);
    is($res->{status}, 403, "$path: 403");
    unlike($res->{body}, qr/\Q$text\E/, "$path: its source is not shown");
    like(log_since($mark), qr/AH10720: .*\Q$path\E is named as PHP/,
         "$path: the error log says why");
}

# With the check off, a FastCGI handler the pool overrode leaves no file it
# would have run to be served as text either.
{
    my $res = raw_request('vf_site_a_off', 'GET', '/dropin-other/conf.phtml');
    is($res->{status}, 403, 'check off, overridden drop-in handler, x.phtml: 403');
    unlike($res->{body}, qr/PHTML-SOURCE-SECRET/, '... its source is not shown');
}

# --- drop-in handlers that reach FastCGI get the check ---------------------
my $gif = do { local $/; open my $fh, '<:raw', docroot() . '/php/upl/evil.gif' or die $!; <$fh> };
for my $c (['/php/upl/evil.gif', 'SetHandler proxy:balancer:// (fcgi members)'],
           ['/upl-uc/evil.gif',  'SetHandler proxy:unix:...|FCGI:// (upper case)']) {
    my ($path, $what) = @$c;
    my $res = raw_request('vf_balancer', 'GET', $path);
    ok($res->{status} == 200 && $res->{body} eq $gif,
       "$what: the GIF is served as a file, not sent to php-fpm")
        or diag("$path -> $res->{status}:\n$res->{body}");
}
