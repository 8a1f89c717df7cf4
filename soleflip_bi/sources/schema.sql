-- The source tables of the shop database, as far as the analytics views read them.
-- Used for development, demos and tests; idempotent to apply. A production database
-- already has these tables (with more columns); compare it with README "Source columns".

create schema if not exists catalog;
create schema if not exists inventory;
create schema if not exists sales;
create schema if not exists supplier;
create schema if not exists platform;

create table if not exists catalog.brand (
    id                 uuid primary key,
    name               varchar(120) not null,
    segment            varchar(60),
    price_tier         varchar(30),
    target_demographic varchar(60),
    parent_brand_id    uuid references catalog.brand (id),
    is_collaboration   boolean not null default false,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);
create index if not exists brand_parent_brand_id_idx on catalog.brand (parent_brand_id);

create table if not exists catalog.category (
    id   uuid primary key,
    name varchar(80) not null
);

create table if not exists catalog.size_master (
    id      uuid primary key,
    us_size varchar(10),
    eu_size varchar(10)
);

create table if not exists catalog.product (
    id           uuid primary key,
    sku          varchar(60) not null unique,
    style_code   varchar(60),
    name         varchar(300) not null,
    brand_id     uuid references catalog.brand (id),
    category_id  uuid references catalog.category (id),
    retail_price numeric(10, 2),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index if not exists product_brand_id_idx on catalog.product (brand_id);
create index if not exists product_category_id_idx on catalog.product (category_id);
create index if not exists product_updated_at_idx on catalog.product (updated_at);

create table if not exists platform.marketplace (
    id   uuid primary key,
    name varchar(80) not null,
    slug varchar(40) not null unique
);

create table if not exists supplier.profile (
    id      uuid primary key,
    name    varchar(200) not null,
    email   varchar(200),
    phone   varchar(60),
    country varchar(60),
    rating  numeric(3, 2)
);

create table if not exists inventory.stock (
    id                   uuid primary key,
    product_id           uuid not null references catalog.product (id),
    size_id              uuid references catalog.size_master (id),
    supplier_id          uuid references supplier.profile (id),
    quantity             integer not null default 1,
    status               varchar(30) not null,
    condition            varchar(30),
    color                varchar(60),
    location             varchar(120),
    purchase_price       numeric(10, 2),
    gross_purchase_price numeric(10, 2),
    vat_amount           numeric(10, 2),
    purchase_date        timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
create index if not exists stock_product_id_idx on inventory.stock (product_id);
create index if not exists stock_size_id_idx on inventory.stock (size_id);
create index if not exists stock_supplier_id_idx on inventory.stock (supplier_id);
create index if not exists stock_updated_at_idx on inventory.stock (updated_at);

create table if not exists sales."order" (
    id                     uuid primary key,
    stockx_order_number    varchar(60) unique,
    inventory_item_id      uuid references inventory.stock (id),
    platform_id            uuid references platform.marketplace (id),
    status                 varchar(30),
    currency_code          varchar(3),
    gross_sale             numeric(12, 2),
    platform_fee           numeric(12, 2),
    shipping_cost          numeric(12, 2),
    net_proceeds           numeric(12, 2),
    net_profit             numeric(12, 2),
    roi                    numeric(10, 4),
    buyer_country          varchar(60),
    buyer_city             varchar(120),
    payout_received        boolean,
    payout_date            timestamptz,
    sold_at                timestamptz,
    raw_data               jsonb,
    platform_specific_data jsonb,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now()
);
create index if not exists order_inventory_item_id_idx on sales."order" (inventory_item_id);
create index if not exists order_platform_id_idx on sales."order" (platform_id);
create index if not exists order_updated_at_idx on sales."order" (updated_at);
create index if not exists order_sold_at_idx on sales."order" (sold_at);
