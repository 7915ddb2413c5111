# A tenant's .htaccess (AllowOverride FileInfo) cannot change PHP settings
# through the backend-control variables: SetEnv, SetEnvIf, RewriteRule [E=]
# PHP_ADMIN_VALUE / PHP_VALUE and ProxyFCGISetEnvIf in .htaccess leave
# ini_get() as the pool has it.  The server configuration can:
# ProxyFCGISetEnvIf "true" PHP_ADMIN_VALUE (even where a tenant .htaccess
# takes part) and SetEnv in a directory no .htaccess can touch.
# The pool's settings: memory_limit 128M, precision 14 (t/logs/../fpm).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 2 + 4 * 3 + 2 + 2 + 2 + 2 + 4;

sub ini {
    my ($path, @h) = @_;
    my ($res, $env) = get_env('vf_site_a', $path, headers => \@h);
    return ($res, $env);
}

my ($res, $env) = ini('/plain/ini.php');
is($env->{X_MEMORY_LIMIT}, '128M', 'baseline: memory_limit 128M') or diag($res->{body});
is($env->{X_PRECISION}, '14', 'baseline: precision 14');

my $lmark = log_mark();
for my $t (['/tenant/ini.php',          'SetEnv PHP_ADMIN_VALUE memory_limit=7M / PHP_VALUE precision=3'],
           ['/tenant-setenvif/ini.php', 'SetEnvIf ... PHP_ADMIN_VALUE=memory_limit=8M'],
           ['/tenant-rewrite/ini.php',  'RewriteRule ... [E=PHP_ADMIN_VALUE:memory_limit=6M]'],
           ['/tenant-envif/ini.php',    'ProxyFCGISetEnvIf "true" PHP_ADMIN_VALUE memory_limit=9M / PHP_VALUE precision=4']) {
    my ($path, $what) = @$t;
    ($res, $env) = ini($path);
    is($res->{status}, 200, ".htaccess $what: the script runs");
    is($env->{X_MEMORY_LIMIT}, '128M', ".htaccess $what: memory_limit unchanged")
        or diag($res->{body});
    is($env->{X_PRECISION}, '14', ".htaccess $what: precision unchanged");
}
note("error log: $_") for grep { /PHP_(?:ADMIN_)?VALUE/ } split /\n/, log_since($lmark);

# Through mod_dir's fast redirect (FallbackResource in a directory without
# an .htaccess, into the tenant's): its .htaccess variables come along.
($res, $env) = ini('/fallback/no/such/page');
is($res->{status}, 200, 'FallbackResource into the tenant directory: the script runs');
is($env->{X_MEMORY_LIMIT}, '128M', 'FallbackResource: memory_limit unchanged')
    or diag($res->{body});

# An .htaccess whose SetEnv is allowed by AllowOverrideList, not FileInfo.
($res, $env) = ini('/listed/ini.php');
is($res->{status}, 200, 'AllowOverrideList SetEnv: the script runs');
is($env->{X_MEMORY_LIMIT}, '128M', 'AllowOverrideList SetEnv PHP_ADMIN_VALUE: memory_limit unchanged')
    or diag($res->{body});

# An SSI page that sets the variable and includes a script: the
# subrequest starts with the page's variables.
($res, $env) = ini('/ssi/page.shtml');
is($res->{status}, 200, 'SSI #set var + #include virtual: the script runs');
is($env->{X_MEMORY_LIMIT}, '128M', 'SSI #set var PHP_ADMIN_VALUE: memory_limit unchanged')
    or diag($res->{body});

# Request headers cannot either.
($res, $env) = ini('/plain/ini.php', 'PHP-Admin-Value' => 'memory_limit=5M', 'PHP_VALUE' => 'precision=2');
is($env->{X_MEMORY_LIMIT}, '128M', 'request header PHP-Admin-Value: memory_limit unchanged');
is($env->{X_PRECISION}, '14', 'request header PHP_VALUE: precision unchanged');

# The server configuration can (last: php-fpm may keep such a setting in
# the worker that served it).
($res, $env) = ini('/admin-setenv/ini.php');
is($res->{status}, 200, 'server-config SetEnv PHP_ADMIN_VALUE (no .htaccess there): runs');
is($env->{X_MEMORY_LIMIT}, '80M', 'server-config SetEnv PHP_ADMIN_VALUE memory_limit=80M applies')
    or diag($res->{body});
($res, $env) = ini('/admin-set/ini.php');
is($res->{status}, 200, 'server-config ProxyFCGISetEnvIf PHP_ADMIN_VALUE: runs');
is($env->{X_MEMORY_LIMIT}, '96M',
   'server-config ProxyFCGISetEnvIf "true" PHP_ADMIN_VALUE memory_limit=96M applies (over a tenant .htaccess)')
    or diag($res->{body});
